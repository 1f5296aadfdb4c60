package api

import (
	"strconv"

	"github.com/gofiber/fiber/v3"

	"github.com/kefu-dev/kefu"
)

// Bounds of the API's numeric parameters.
const (
	MaxSearchK      = 100   // hits one search may ask for ("k")
	MaxListLimit    = 10000 // documents one page of GET …/documents may list
	MaxUnansweredN  = 1000  // questions GET …/unanswered may list
	defaultSearchK  = 10
	defaultUnanswer = 50
)

// queryInt reads an integer query parameter: def when absent, an error
// naming the parameter and its range when it is not an integer in
// [lo, hi].
func queryInt(c fiber.Ctx, name string, def, lo, hi int) (int, error) {
	raw := c.Query(name)
	if raw == "" {
		return def, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < lo || n > hi {
		return 0, kefu.Errorf(kefu.EINVALID, "%s must be an integer from %d to %d, not %q", name, lo, hi, raw)
	}
	return n, nil
}

// queryBool reads a boolean query parameter: false when absent.
func queryBool(c fiber.Ctx, name string) (bool, error) {
	raw := c.Query(name)
	if raw == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(raw)
	if err != nil {
		return false, kefu.Errorf(kefu.EINVALID, "%s must be true or false, not %q", name, raw)
	}
	return b, nil
}

// checkK checks a search's "k": from 1 to MaxSearchK when given.
func checkK(k *int) (int, error) {
	if k == nil {
		return defaultSearchK, nil
	}
	if *k < 1 || *k > MaxSearchK {
		return 0, kefu.Errorf(kefu.EINVALID, "k must be an integer from 1 to %d, not %d", MaxSearchK, *k)
	}
	return *k, nil
}
