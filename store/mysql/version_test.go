package mysql

import "testing"

func TestHasReturning(t *testing.T) {
	for version, want := range map[string]bool{
		"10.11.19-MariaDB-0+deb12u1": true,
		"10.5.0-MariaDB":             true,
		"11.4.2-MariaDB-ubu2404":     true,
		"5.5.5-10.6.12-MariaDB":      true,
		"10.4.32-MariaDB":            false,
		"10.3.39-MariaDB-0+deb10u1":  false,
		"8.0.36":                     false,
		"8.4.0-0ubuntu0.24.04.1":     false,
		"":                           false,
		"MariaDB":                    false,
	} {
		if got := hasReturning(version); got != want {
			t.Errorf("hasReturning(%q) = %v, want %v", version, got, want)
		}
	}
}
