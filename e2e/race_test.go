//go:build race

package e2e_test

// raceEnabled: the tests run with -race, so the stress test runs a server
// built with -race as well.
const raceEnabled = true
