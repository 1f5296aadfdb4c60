// Package eval measures retrieval quality: BEIR datasets (beir.go), a
// team's labelled-question files and their train/test split
// (questions.go), the metrics with trec_eval's definitions (metrics.go),
// fusion tuning (tune.go), the Evaluator that runs them on a KB
// (evaluate.go) and its reports (report.go). `kefu eval` and the demo's
// first report use it.
//
// eval is a tool package like cmd, not a stage: it measures the retrieve
// stage, so it imports the root (kefu) and retrieve, whose fusion, features
// and confidence it must reproduce exactly; it imports no other stage, and
// no stage imports it. Fitting a calibration stays in retrieve, which a KB
// needs online to calibrate itself, and so does measuring a calibration's
// reliability (retrieve.Reliability), which self-calibration reports.
package eval
