package trigger

import (
	"context"
	"errors"
	"fmt"

	"github.com/callbackd/callbackd/callback"
)

// subApp is the sub-application a callback (or the inbound IVR) through
// access number n runs: for an iscallback of callback.FirstIVRID or more
// the IVR of that id in the store's ivrs (Mizu: "the IVR specified in the
// iscallback field"), else the number's own (Mizu's ivrid). why is set
// when the id names no IVR; errors are store failures.
func (e *Engine) subApp(ctx context.Context, n *callback.AccessNumber) (cld, why string, err error) {
	if n.IsCallback < callback.FirstIVRID {
		return n.SubApp, "", nil
	}
	var v *callback.IVR
	if st, ok := e.Store.(callback.IVRStore); ok {
		v, err = st.GetIVR(ctx, n.IsCallback)
	} else {
		err = fmt.Errorf("the store keeps no IVRs: %w", callback.ErrNotFound)
	}
	switch {
	case err == nil:
		return v.SubApp, "", nil
	case errors.Is(err, callback.ErrNotFound):
		e.Log.Error("access number names an IVR that does not exist: add it with callbackd access ivr", "access_number", n.Number, "iscallback", n.IsCallback)
		return "", fmt.Sprintf("iscallback %d: no IVR %d (callbackd access ivr -id %d -subapp ...)", n.IsCallback, n.IsCallback, n.IsCallback), nil
	}
	return "", "IVR lookup failed", fmt.Errorf("look up IVR %d: %w", n.IsCallback, err)
}
