package callback

import (
	"context"
	"fmt"
)

// FirstIVRID is the lowest iscallback value that names an IVR: Mizu's
// iscallback 1 to 7 are modes, "other=ivr id to use" (seed 003, example
// "iscallback: 8").
const FirstIVRID = 8

// IVR is one of Mizu's IVRs by id (the ivrs table): an access number whose
// iscallback is ID calls every caller back, as iscallback 6 does, into
// SubApp instead of the number's own sub-application.
type IVR struct {
	ID     int    // FirstIVRID or more
	SubApp string // original_cld of the callbacks: callingcard[_<lang>...] or 2way_<number>
}

// Validate checks the id and the sub-application.
func (v *IVR) Validate() error {
	if v.ID < FirstIVRID {
		return &ValidationError{Field: "id", Reason: fmt.Sprintf("%d: an IVR id is %d or more (1 to 7 are iscallback modes)", v.ID, FirstIVRID)}
	}
	if v.SubApp == "" {
		return &ValidationError{Field: "sub-application", Reason: "empty: want callingcard[_<lang>...] or 2way_<number>"}
	}
	if _, err := ParseCLD(v.SubApp); err != nil {
		return err
	}
	return nil
}

// IVRStore is a Store that keeps the IVRs by id; both stores implement
// it. GetIVR returns ErrNotFound for an id with no IVR.
type IVRStore interface {
	PutIVR(ctx context.Context, v IVR) error
	GetIVR(ctx context.Context, id int) (*IVR, error)
	ListIVRs(ctx context.Context) ([]IVR, error)
	DeleteIVR(ctx context.Context, id int) error
}
