package callbacktest

import (
	"testing"

	"github.com/callbackd/callbackd/callback"
)

// History returns request id's history as "Status" or "Status/Result"
// strings, with repeats of the same entry folded into one.
func History(t testing.TB, st callback.Store, id int64) []string {
	t.Helper()
	hist, err := st.History(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ev := range hist {
		s := string(ev.Status)
		if ev.Result != "" {
			s += "/" + string(ev.Result)
		}
		if len(out) == 0 || out[len(out)-1] != s {
			out = append(out, s)
		}
	}
	return out
}
