//go:build race

package message

// raceEnabled: the race detector slows byte-by-byte loops about tenfold;
// tests that stream tens of megabytes use smaller inputs under it.
const raceEnabled = true
