package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/store/dbtest"
)

// A request from the API, web, email, SMS or CLI that billing would refuse
// before its leg A is refused at once, with the field and the reason; a
// trigger's request is left to the check before leg A.
func TestCreateRefusesWhatBillingWouldRefuse(t *testing.T) {
	for name, open := range map[string]func(testing.TB) callback.Store{
		"sqlite":  func(t testing.TB) callback.Store { return dbtest.SQLite(t) },
		"mariadb": func(t testing.TB) callback.Store { return dbtest.MySQL(t) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			st := open(t)
			ctx := t.Context()
			rate := func(prefix string) callback.TariffRate {
				return callback.TariffRate{Prefix: prefix, PricePerMinute: 6000, FirstIncrement: 1, NextIncrement: 1}
			}
			if _, err := st.ImportRates(ctx, "retail", []callback.TariffRate{rate("1"), rate("44"), rate("870"), {Prefix: "35", Blocked: true}}, true); err != nil {
				t.Fatal(err)
			}
			if err := st.CreateAccount(ctx, &callback.Account{Username: "alice", Balance: 5 * callback.MoneyScale, Currency: "USD", Tariff: "retail"}); err != nil {
				t.Fatal(err)
			}
			c := DefaultConfig()
			svc := &callback.Service{Store: st, Policy: c.Policy(), Check: newRequestChecker(&c, newBiller(&c, st))}
			tests := []struct {
				src          callback.Source
				cli, cld     string
				field, cause string // "" created
			}{
				{callback.SourceAPI, "8707731", "2way_4420", "original_cli", "destination blocked (prefix 870)"},
				{callback.SourceWeb, "3912345", "2way_4420", "original_cli", "no rate for 3912345"},
				{callback.SourceSMS, "15550001", "2way_3512", "original_cld", "destination blocked (prefix 35)"},
				{callback.SourceEmail, "15550001", "2way_9001", "original_cld", "destination blocked (prefix 900)"},
				{callback.SourceAdmin, "3912345", "callingcard", "original_cli", "no rate for 3912345"},
				{callback.SourceAPI, "15550001", "2way_4420", "", ""},
				{callback.SourceANI, "3912345", "callingcard", "", ""},
			}
			for _, tt := range tests {
				r := callback.NewRequest(tt.src)
				r.Username, r.OriginalCLI, r.OriginalCLD = "alice", tt.cli, tt.cld
				err := svc.Create(ctx, r)
				var ve *callback.ValidationError
				switch {
				case tt.field == "" && err != nil:
					t.Errorf("%s %s -> %s: %v", tt.src, tt.cli, tt.cld, err)
				case tt.field != "" && (!errors.As(err, &ve) || ve.Field != tt.field || !strings.Contains(ve.Reason, tt.cause) || r.ID != 0):
					t.Errorf("%s %s -> %s: %v (id %d), want %s refused: %s", tt.src, tt.cli, tt.cld, err, r.ID, tt.field, tt.cause)
				}
			}
		})
	}
}
