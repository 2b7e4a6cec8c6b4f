package callingcard

import (
	"fmt"
	"strings"

	"github.com/callbackd/callbackd/callback"
)

// CLIKind is what the calling card's second leg presents, after MOR's
// callback settings: Send Device CID, Send Source as CID, Callback CID.
type CLIKind string

// The choices.
const (
	// CLISource presents the number called back (original_cli): the
	// caller's own number ("Send Source as CID"). The default.
	CLISource CLIKind = "source"
	// CLIDevice presents the paying account's number (its associated
	// number; "Send Device CID"), else the caller's.
	CLIDevice CLIKind = "device"
	// CLIFixed presents a configured number ("Callback CID", and "WEB
	// Callback CID" when given for web requests).
	CLIFixed CLIKind = "fixed"
)

// CLIChoice is one choice: a kind and, for CLIFixed, the number.
type CLIChoice struct {
	Kind   CLIKind
	Number string
}

// LegBCLI says what leg B presents for each trigger: Default, or the
// choice named for the request's source.
type LegBCLI struct {
	Default  CLIChoice
	BySource map[callback.Source]CLIChoice
}

// cliSources are the request sources a choice can be given for.
var cliSources = []callback.Source{
	callback.SourceSQL, callback.SourceANI, callback.SourceDNIS, callback.SourcePIN, callback.SourceCLD,
	callback.SourceAPI, callback.SourceWeb, callback.SourceEmail, callback.SourceSMS, callback.SourceAdmin, callback.SourceIVR,
}

// ParseLegBCLI reads ari.card_leg_b_cli: comma-separated choices, each
// "source", "device" or a number (a fixed Callback CID), optionally
// prefixed by the trigger it is for ("web=+4930123456"). The choice without
// a trigger is the default; empty is "source".
func ParseLegBCLI(s string) (LegBCLI, error) {
	out := LegBCLI{Default: CLIChoice{Kind: CLISource}}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		src, value, scoped := strings.Cut(item, "=")
		if !scoped {
			value = src
		}
		c, err := parseCLIChoice(strings.TrimSpace(value))
		if err != nil {
			return LegBCLI{}, err
		}
		if !scoped {
			out.Default = c
			continue
		}
		source := callback.Source(strings.ToLower(strings.TrimSpace(src)))
		known := false
		for _, k := range cliSources {
			known = known || k == source
		}
		if !known {
			return LegBCLI{}, fmt.Errorf("leg B caller ID %q: unknown trigger %q: %w", item, src, callback.ErrInvalid)
		}
		if out.BySource == nil {
			out.BySource = map[callback.Source]CLIChoice{}
		}
		out.BySource[source] = c
	}
	return out, nil
}

func parseCLIChoice(v string) (CLIChoice, error) {
	switch k := CLIKind(strings.ToLower(v)); k {
	case CLISource, CLIDevice:
		return CLIChoice{Kind: k}, nil
	}
	if !callback.ValidDestination(v) {
		return CLIChoice{}, fmt.Errorf("leg B caller ID %q: want source, device or a number: %w", v, callback.ErrInvalid)
	}
	return CLIChoice{Kind: CLIFixed, Number: v}, nil
}

// callerID is the number leg B presents for request r paid by acct.
func (l LegBCLI) callerID(r *callback.Request, acct *callback.Account) string {
	c, ok := l.BySource[r.Source]
	if !ok {
		c = l.Default
	}
	switch c.Kind {
	case CLIFixed:
		return c.Number
	case CLIDevice:
		if acct != nil && acct.AssociatedNumber != "" {
			return acct.AssociatedNumber
		}
	}
	return r.OriginalCLI
}
