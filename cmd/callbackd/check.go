package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/callbackd/callbackd/billing"
	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/tariff"
)

// requestChecker refuses, when a request is created, what billing would
// refuse before its leg A is placed (billing.Biller.Check): leg A's
// number without a rate or blocked, a 2-way destination likewise, a daily
// cap reached, money short of the first increment of both legs. API,
// XML-RPC, web, email, SMS and CLI callers learn the reason at once (a
// *callback.ValidationError: HTTP 400 with the field). Requests of the
// AGI triggers are left to the check before leg A: their caller is on the
// line and the trigger answers in a few round trips. 2-way callbacks that
// the SIP switch bills (ari.bill_two_way false) are not rated.
type requestChecker struct {
	biller   *billing.Biller
	twoWayOn bool
}

// newBiller is a Biller for a process that only creates requests (the
// mail pipe, the admin CLI).
func newBiller(c *Config, st callback.Store) *billing.Biller {
	return billing.New(st, tariff.NewCache(st, c.Limits.TariffCacheCheck), billing.Options{ReserveSlice: c.Billing.ReserveSlice})
}

func newRequestChecker(c *Config, b *billing.Biller) callback.RequestChecker {
	return requestChecker{biller: b, twoWayOn: c.ARI.BillTwoWay}
}

// CheckRequest implements callback.RequestChecker.
func (rc requestChecker) CheckRequest(ctx context.Context, r *callback.Request) error {
	switch r.Source {
	case callback.SourceANI, callback.SourceDNIS, callback.SourcePIN, callback.SourceCLD, callback.SourceIVR:
		return nil
	}
	cld, err := callback.ParseCLD(r.OriginalCLD)
	if err != nil {
		return nil // validation reports it
	}
	if cld.App == callback.SubAppTwoWay && !rc.twoWayOn {
		return nil
	}
	_, err = rc.biller.Check(ctx, r)
	var refused *billing.RefusedError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &refused):
		field := "original_cld"
		switch {
		case refused.Leg == callback.LegA:
			field = "original_cli"
		case errors.Is(err, billing.ErrInsufficientFunds), errors.Is(err, billing.ErrDailyCapReached):
			field = "username"
		}
		return &callback.ValidationError{Field: field, Reason: "refused: " + err.Error()}
	}
	return fmt.Errorf("check the request's numbers and money: %w", err)
}
