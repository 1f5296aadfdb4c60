package api

import "sort"

// Routes lists the API's routes as "METHOD /path/:param", sorted: the
// route table, for tests that walk every route.
func (s *Server) Routes() []string {
	out := make([]string, 0, len(s.routes))
	for r := range s.routes {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}
