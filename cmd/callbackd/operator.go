package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/callbackd/callbackd/admin"
	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/webhook"
)

// newAdminService is the admin service over st, for the admin API and the
// commands; nil when st keeps no operators (neither SQL store lacks them).
func newAdminService(c *Config, st callback.Store, notify func()) *admin.Service {
	ast, ok := st.(admin.Store)
	if !ok {
		return nil
	}
	ev, _ := webhook.ParseEvents(c.Webhooks.Events)
	return &admin.Service{Store: ast, Realm: c.ARI.Realm, Notify: notify,
		Webhooks: admin.WebhookConfig{Enabled: c.Webhooks.Enabled, URL: c.Webhooks.URL, Events: ev, RetryFor: c.Webhooks.RetryFor}}
}

// adminService is newAdminService for a command.
func adminService(c *Config, st callback.Store) (*admin.Service, error) {
	s := newAdminService(c, st, nil)
	if s == nil {
		return nil, fmt.Errorf("the store %T keeps no operators", st)
	}
	return s, nil
}

// adminError turns an error of the admin service into the command's: a
// refused value names its field, as the API does.
func adminError(err error, thing string, format string, args ...any) error {
	var ve *callback.ValidationError
	if errors.As(err, &ve) {
		return usageError{ve.Error()}
	}
	return storeError(err, thing, format, args...)
}

func (e *env) operatorAdd(fs *flag.FlagSet) func(callback.Store, *Config) error {
	name := fs.String("name", "", "operator name (required)")
	role := fs.String("role", "", "admin, support (read, cancel, resend webhook notifications) or reporting (read only) (required)")
	password := fs.String("password", "", "password for the web console, 8 to 72 bytes (stored as bcrypt)")
	return func(st callback.Store, c *Config) error {
		if err := required(fs, "name", "role"); err != nil {
			return err
		}
		svc, err := adminService(c, st)
		if err != nil {
			return err
		}
		op, err := svc.CreateOperator(e.ctx, admin.CLIActor, *name, admin.Role(*role), *password)
		if err != nil {
			return adminError(err, "operator "+*name, "add operator %s: %w", *name, err)
		}
		fmt.Fprintf(e.stdout, "operator %s added (%s)\n", op.Name, op.Role)
		return nil
	}
}

func (e *env) operatorList(fs *flag.FlagSet) func(callback.Store, *Config) error {
	return func(st callback.Store, c *Config) error {
		svc, err := adminService(c, st)
		if err != nil {
			return err
		}
		ops, err := svc.ListOperators(e.ctx, admin.CLIActor)
		if err != nil {
			return err
		}
		w := e.table()
		fmt.Fprintln(w, "NAME\tROLE\tPASSWORD\tDISABLED\tCREATED")
		for _, op := range ops {
			fmt.Fprintf(w, "%s\t%s\t%v\t%v\t%s\n", op.Name, op.Role, op.PasswordHash != "", op.Disabled, fmtTime(op.Created))
		}
		return w.Flush()
	}
}

func (e *env) operatorToken(fs *flag.FlagSet) func(callback.Store, *Config) error {
	name := fs.String("name", "", "operator name (required)")
	label := fs.String("label", "", "what the token is for, e.g. billing-sync")
	return func(st callback.Store, c *Config) error {
		if err := required(fs, "name"); err != nil {
			return err
		}
		svc, err := adminService(c, st)
		if err != nil {
			return err
		}
		tok, err := svc.NewToken(e.ctx, admin.CLIActor, *name, *label)
		if err != nil {
			return adminError(err, "operator "+*name, "token for operator %s: %w", *name, err)
		}
		// The token is shown once; only its hash is stored.
		fmt.Fprintln(e.stdout, tok)
		return nil
	}
}

func (e *env) operatorSet(fs *flag.FlagSet) func(callback.Store, *Config) error {
	name := fs.String("name", "", "operator name (required)")
	role := fs.String("role", "", "new role: admin, support or reporting")
	password := fs.String("password", "", "new password")
	disabled := fs.Bool("disabled", false, "refuse the operator's password and tokens")
	return func(st callback.Store, c *Config) error {
		if err := required(fs, "name"); err != nil {
			return err
		}
		svc, err := adminService(c, st)
		if err != nil {
			return err
		}
		var r *admin.Role
		var pw *string
		var dis *bool
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "role":
				r = (*admin.Role)(role)
			case "password":
				pw = password
			case "disabled":
				dis = disabled
			}
		})
		op, err := svc.SetOperator(e.ctx, admin.CLIActor, *name, "", r, pw, dis)
		if err != nil {
			return adminError(err, "operator "+*name, "operator %s: %w", *name, err)
		}
		fmt.Fprintf(e.stdout, "operator %s: %s, disabled %v\n", op.Name, op.Role, op.Disabled)
		return nil
	}
}

// parseWhen reads a -from or -to: RFC 3339 or a date (midnight UTC).
func parseWhen(name, s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	return time.Time{}, usageError{fmt.Sprintf("-%s %q: want an RFC 3339 time or a date such as 2030-01-02", name, s)}
}

func (e *env) cdrFlags(fs *flag.FlagSet) func() (admin.CDRFilter, error) {
	from := fs.String("from", "", "CDRs that started at or after this (RFC 3339 or YYYY-MM-DD, UTC) (required)")
	to := fs.String("to", "", "CDRs that started before this (required)")
	account := fs.String("account", "", "only this account's CDRs")
	leg := fs.String("leg", "", "only leg A (the call to the user) or B (to the destination)")
	return func() (admin.CDRFilter, error) {
		if err := required(fs, "from", "to"); err != nil {
			return admin.CDRFilter{}, err
		}
		f := admin.CDRFilter{Account: *account, Leg: callback.Leg(strings.ToUpper(*leg))}
		var err error
		if f.From, err = parseWhen("from", *from); err != nil {
			return f, err
		}
		if f.To, err = parseWhen("to", *to); err != nil {
			return f, err
		}
		if f.Leg != "" && f.Leg != callback.LegA && f.Leg != callback.LegB {
			return f, usageError{"-leg: want A or B"}
		}
		return f, nil
	}
}

// cdrExport streams the CDRs of a time range as CSV (admin.CDRColumns).
func (e *env) cdrExport(fs *flag.FlagSet) func(callback.Store, *Config) error {
	filter := e.cdrFlags(fs)
	out := fs.String("out", "-", "file to write, - for standard output")
	return func(st callback.Store, c *Config) error {
		f, err := filter()
		if err != nil {
			return err
		}
		svc, err := adminService(c, st)
		if err != nil {
			return err
		}
		var w io.Writer = e.stdout
		var file *os.File
		if *out != "-" {
			if file, err = os.Create(*out); err != nil {
				return err
			}
			defer file.Close()
			w = file
		}
		n, err := svc.ExportCDRs(e.ctx, admin.CLIActor, f, w, nil)
		if err != nil {
			return adminError(err, "CDRs", "export CDRs: %w", err)
		}
		if file != nil {
			if err := file.Close(); err != nil {
				return fmt.Errorf("export CDRs: %w", err)
			}
			fmt.Fprintf(e.stderr, "%d CDRs written to %s\n", n, *out)
		}
		return nil
	}
}

// cdrRebuildTotals counts the dashboard's totals of the whole hours
// [-from, -to) again from the CDRs and requests.
func (e *env) cdrRebuildTotals(fs *flag.FlagSet) func(callback.Store, *Config) error {
	from := fs.String("from", "", "the first hour to count again (RFC 3339 or YYYY-MM-DD, UTC, on the hour) (required)")
	to := fs.String("to", "", "the hour after the last (required)")
	return func(st callback.Store, c *Config) error {
		if err := required(fs, "from", "to"); err != nil {
			return err
		}
		f, err := parseWhen("from", *from)
		if err != nil {
			return err
		}
		t, err := parseWhen("to", *to)
		if err != nil {
			return err
		}
		svc, err := adminService(c, st)
		if err != nil {
			return err
		}
		cdrs, requests, err := svc.RebuildTotals(e.ctx, admin.CLIActor, f, t)
		if err != nil {
			return adminError(err, "totals", "rebuild totals: %w", err)
		}
		fmt.Fprintf(e.stdout, "counted %d CDRs and %d finished requests from %s to %s\n", cdrs, requests, f.Format(time.RFC3339), t.Format(time.RFC3339))
		return nil
	}
}

// cdrReport prints traffic and revenue per day and account, access number
// or prefix.
func (e *env) cdrReport(fs *flag.FlagSet) func(callback.Store, *Config) error {
	filter := e.cdrFlags(fs)
	by := fs.String("by", "account", "account, access_number or prefix")
	return func(st callback.Store, c *Config) error {
		f, err := filter()
		if err != nil {
			return err
		}
		svc, err := adminService(c, st)
		if err != nil {
			return err
		}
		rows, err := svc.Report(e.ctx, admin.CLIActor, admin.ReportFilter{From: f.From, To: f.To, By: admin.ReportBy(*by), Account: f.Account, Leg: f.Leg})
		if err != nil {
			return adminError(err, "report", "report: %w", err)
		}
		w := e.table()
		fmt.Fprintf(w, "DAY\t%s\tCURRENCY\tATTEMPTS\tANSWERED\tASR %%\tACD S\tMINUTES\tREVENUE\n", strings.ToUpper(*by))
		for _, r := range rows {
			asr := r.ASR()
			fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%d\t%d.%02d\t%d\t%d.%02d\t%s\n", r.Day, r.Key, r.Currency, r.Attempts, r.Answered,
				asr/100, asr%100, r.ACD(), r.BillSec/60, (r.BillSec%60)*100/60, r.Revenue)
		}
		return w.Flush()
	}
}
