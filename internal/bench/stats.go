package bench

import (
	"math"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

// def sets *v to d unless it is positive.
func def[T int | float64 | time.Duration](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}

// dotNaive is the plain loop the kernels are measured against.
func dotNaive(a, b []float32) float32 {
	var s float32
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// alternate times f(n) and g(n) in turn, reps times each, with n grown
// until a run of both takes 40 ms, and returns their median ns per call.
func alternate(reps int, f, g func(n int) float32) (fns, gns float64) {
	n := 100
	for {
		t0 := time.Now()
		sink = f(n) + g(n)
		if d := time.Since(t0); d > 40*time.Millisecond || n > 1<<30 {
			break
		}
		n *= 2
	}
	fs, gs := make([]time.Duration, reps), make([]time.Duration, reps)
	for i := range reps {
		t0 := time.Now()
		sink = f(n)
		t1 := time.Now()
		sink = g(n)
		fs[i], gs[i] = t1.Sub(t0), time.Since(t1)
	}
	return float64(medianOf(fs).Nanoseconds()) / float64(n), float64(medianOf(gs).Nanoseconds()) / float64(n)
}

var sink float32

// median runs f reps times and returns the median duration.
func median(reps int, f func()) time.Duration {
	ds := make([]time.Duration, reps)
	for i := range ds {
		t0 := time.Now()
		f()
		ds[i] = time.Since(t0)
	}
	return medianOf(ds)
}

func medianOf(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

// pct returns the p-th percentile (nearest rank) of xs.
func pct(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// threadCPU is the CPU time the calling thread has used (the caller locks
// itself to its thread). On a shared machine a query's CPU time is the
// steadier figure: it leaves out the time other processes hold the core,
// though not what they do to the caches.
func threadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// processCPU is the CPU time the whole process has used, every thread: the
// work of a multi-goroutine phase (a build, opening a store) without the
// time other processes held the cores.
func processCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}
