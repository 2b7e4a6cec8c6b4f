//go:build !race

package aritest

const raceEnabled = false
