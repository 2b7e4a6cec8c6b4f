package callback

import "fmt"

// IVRAuth is Mizu's ivrauthentication (seed 003) of an access number: how
// a caller proves who they are, "0=no, 1=A number or pincode, 2=only A
// number, 3=only pin code, 4=A number and pincode". Its zero value is the
// default, 1 (A number or PIN), so that options built without it keep
// their meaning; Seed and ParseIVRAuth convert from and to the seed's
// numbers, which are what the access_numbers.ivrauthentication column and
// the admin command hold.
//
// The A number is accepted only where anumberhandling accepts (2 or 3)
// and Disable CLI Authentication is off; ivrauthentication narrows that
// further, it never widens it.
type IVRAuth int8

// The ivrauthentication values, by meaning.
const (
	// IVRAuthANumberOrPIN (1, the default): a caller whose A number
	// identifies an account is authenticated by it; anyone else is asked
	// for a PIN in the IVR.
	IVRAuthANumberOrPIN IVRAuth = iota
	// IVRAuthNone (0): nobody is authenticated: the A number is not looked
	// up, no PIN is asked, the Default Account Username pays.
	IVRAuthNone
	// IVRAuthANumberOnly (2): only a known A number authenticates; no PIN
	// is asked, and an unknown caller is refused in the IVR.
	IVRAuthANumberOnly
	// IVRAuthPINOnly (3): the A number never authenticates; every caller
	// is asked for a PIN, callbacks included.
	IVRAuthPINOnly
	// IVRAuthANumberAndPIN (4): the A number must identify an account and
	// the caller must then type that account's PIN; a PIN of another
	// account is refused (a failed PIN), an unknown A number is refused.
	IVRAuthANumberAndPIN
)

// DefaultIVRAuthentication is the seed number of the default, IVRAuthANumberOrPIN.
const DefaultIVRAuthentication = 1

var ivrAuthSeed = [...]int{IVRAuthANumberOrPIN: 1, IVRAuthNone: 0, IVRAuthANumberOnly: 2, IVRAuthPINOnly: 3, IVRAuthANumberAndPIN: 4}

// Seed returns the seed's number of a: 0 to 4.
func (a IVRAuth) Seed() int {
	if a < 0 || int(a) >= len(ivrAuthSeed) {
		return -1
	}
	return ivrAuthSeed[a]
}

// String is the seed's number and its meaning, for logs and listings.
func (a IVRAuth) String() string {
	switch a {
	case IVRAuthNone:
		return "0 (no)"
	case IVRAuthANumberOrPIN:
		return "1 (A number or PIN)"
	case IVRAuthANumberOnly:
		return "2 (only A number)"
	case IVRAuthPINOnly:
		return "3 (only PIN)"
	case IVRAuthANumberAndPIN:
		return "4 (A number and PIN)"
	}
	return fmt.Sprintf("IVRAuth(%d)", int8(a))
}

// ParseIVRAuth returns the IVRAuth of the seed's number v (0 to 4).
func ParseIVRAuth(v int) (IVRAuth, error) {
	for a, s := range ivrAuthSeed {
		if s == v {
			return IVRAuth(a), nil
		}
	}
	return 0, &ValidationError{Field: "ivrauthentication", Reason: fmt.Sprintf("%d: want 0 (no), 1 (A number or PIN), 2 (only A number), 3 (only PIN) or 4 (A number and PIN)", v)}
}

// AcceptsANumber reports whether a known A number may authenticate the
// caller (1, 2 and 4; with 4 it is only the first of two factors).
func (a IVRAuth) AcceptsANumber() bool {
	return a == IVRAuthANumberOrPIN || a == IVRAuthANumberOnly || a == IVRAuthANumberAndPIN
}
