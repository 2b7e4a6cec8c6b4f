package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/callbackd/callbackd/admin"
	"github.com/callbackd/callbackd/callback"
)

// admin runs the administration commands against the configured store.
func (e *env) admin(noun, verb string, args []string) error {
	fs, cfgPath := e.flags(noun + " " + verb)
	var run func(st callback.Store, c *Config) error
	switch noun + " " + verb {
	case "account add":
		run = e.accountAdd(fs)
	case "account edit":
		run = e.accountEdit(fs)
	case "account list":
		run = e.accountList(fs)
	case "account show":
		run = e.accountShow(fs)
	case "account balance":
		run = e.accountBalance(fs)
	case "account pin":
		run = e.accountPIN(fs)
	case "account cli":
		run = e.accountCLI(fs)
	case "access add":
		run = e.accessAdd(fs)
	case "access list":
		run = e.accessList(fs)
	case "access remove":
		run = e.accessRemove(fs)
	case "access ivr":
		run = e.accessIVR(fs)
	case "request add":
		run = e.requestAdd(fs)
	case "request list":
		run = e.requestList(fs)
	case "request show":
		run = e.requestShow(fs)
	case "request cancel":
		run = e.requestCancel(fs)
	case "tariff import":
		run = e.tariffImport(fs)
	case "tariff list":
		run = e.tariffList(fs)
	case "currency set":
		run = e.currencySet(fs)
	case "currency list":
		run = e.currencyList(fs)
	case "operator add":
		run = e.operatorAdd(fs)
	case "operator list":
		run = e.operatorList(fs)
	case "operator token":
		run = e.operatorToken(fs)
	case "operator set":
		run = e.operatorSet(fs)
	case "cdr export":
		run = e.cdrExport(fs)
	case "cdr report":
		run = e.cdrReport(fs)
	case "cdr rebuild-totals":
		run = e.cdrRebuildTotals(fs)
	default:
		fmt.Fprint(e.stderr, groupUsage(noun))
		return usageError{fmt.Sprintf("%s: unknown subcommand %q (%s)", noun, verb, strings.Join(subcommandNames(noun), ", "))}
	}
	if err := e.parse(fs, args); err != nil {
		return err
	}
	c, st, err := e.openAdminStore(*cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	return run(st, &c)
}

// openAdminStore loads the configuration and opens its store for a command
// whose output is a table or a report: only warnings are logged.
func (e *env) openAdminStore(cfgPath string) (Config, callback.Store, error) {
	c, err := e.loadConfig(cfgPath)
	if err != nil {
		return c, nil, err
	}
	c.Log.Level = "warn" // admin output is the table, not the logs
	log, err := newLogger(&c, e.stderr)
	if err != nil {
		return c, nil, err
	}
	st, err := openStore(e.ctx, &c, log)
	return c, st, err
}

func (e *env) table() *tabwriter.Writer {
	return tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
}

func required(fs *flag.FlagSet, names ...string) error {
	for _, n := range names {
		if fs.Lookup(n).Value.String() == "" {
			return usageError{fmt.Sprintf("-%s is required", n)}
		}
	}
	return nil
}

func (e *env) accountAdd(fs *flag.FlagSet) func(callback.Store, *Config) error {
	username := fs.String("username", "", "account username (required)")
	password := fs.String("password", "", "password for the web page, API and email trigger")
	sip := fs.Bool("sip", false, "also store the password's SIP digest HA1 (as good as the password to SIP): only for an account that needs a SIP identity")
	pin := fs.String("pin", "", "PIN for the PIN trigger, calling card and web page (stored as a keyed hash: needs auth.pin_key)")
	balance := fs.String("balance", "0", "starting balance, e.g. 10.50")
	currency := fs.String("currency", "USD", "ISO 4217 currency of the account")
	creditLimit := fs.String("credit-limit", "0", "lowest balance allowed (negative for postpaid)")
	maxSessions := fs.Int("max-sessions", 2, "concurrent calls; a callback needs 2")
	number := fs.String("number", "", "associated number (DNIS trigger, web simple mode)")
	lang := fs.String("language", "en", "IVR language")
	tariff := fs.String("tariff", "default", "tariff rating this account's calls")
	dailyCap := fs.String("daily-cap", "0", "per-day spend cap, 0 for none")
	return func(st callback.Store, c *Config) error {
		if err := required(fs, "username"); err != nil {
			return err
		}
		svc, err := adminService(c, st)
		if err != nil {
			return err
		}
		in := admin.AccountSettings{Username: *username, Currency: *currency, CreditLimit: *creditLimit, DailyCap: *dailyCap,
			MaxSessions: *maxSessions, AssociatedNumber: *number, Language: *lang, Tariff: *tariff, SIP: *sip, Balance: *balance}
		if *password != "" {
			in.Password = password
		}
		if *pin != "" {
			in.PIN = pin
		}
		a, _, err := svc.CreateAccount(e.ctx, admin.CLIActor, in)
		if err != nil {
			return adminError(err, "account "+*username, "add account %s: %w", *username, err)
		}
		fmt.Fprintf(e.stdout, "account %s added (balance %s %s)\n", a.Username, a.Balance, a.Currency)
		return nil
	}
}

// accountEdit changes the options named on the command line and leaves the
// others (and the balance, which only "account balance" sets) as they are.
func (e *env) accountEdit(fs *flag.FlagSet) func(callback.Store, *Config) error {
	username := fs.String("username", "", "account username (required)")
	maxSessions := fs.Int("max-sessions", 2, "concurrent calls; a callback needs 2 (0: no limit)")
	number := fs.String("number", "", "associated number (DNIS trigger, web simple mode)")
	lang := fs.String("language", "", "IVR language")
	tariff := fs.String("tariff", "", "tariff rating this account's calls")
	creditLimit := fs.String("credit-limit", "", "lowest balance allowed (negative for postpaid)")
	dailyCap := fs.String("daily-cap", "", "per-day spend cap, 0 for none")
	blocked := fs.Bool("blocked", false, "refuse callbacks for the account")
	return func(st callback.Store, c *Config) error {
		if err := required(fs, "username"); err != nil {
			return err
		}
		svc, err := adminService(c, st)
		if err != nil {
			return err
		}
		a, err := svc.UpdateAccount(e.ctx, admin.CLIActor, *username, "", func(st *admin.AccountSettings) error {
			fs.Visit(func(f *flag.Flag) {
				switch f.Name {
				case "max-sessions":
					st.MaxSessions = *maxSessions
				case "number":
					st.AssociatedNumber = *number
				case "language":
					st.Language = *lang
				case "tariff":
					st.Tariff = *tariff
				case "blocked":
					st.Blocked = *blocked
				case "credit-limit":
					st.CreditLimit = *creditLimit
				case "daily-cap":
					st.DailyCap = *dailyCap
				}
			})
			return nil
		})
		if err != nil {
			return adminError(err, "account "+*username, "edit account %s: %w", *username, err)
		}
		fmt.Fprintf(e.stdout, "account %s updated (max sessions %d)\n", a.Username, a.MaxSessions)
		return nil
	}
}

func (e *env) accountList(fs *flag.FlagSet) func(callback.Store, *Config) error {
	return func(st callback.Store, _ *Config) error {
		accts, err := st.ListAccounts(e.ctx)
		if err != nil {
			return err
		}
		w := e.table()
		fmt.Fprintln(w, "USERNAME\tBALANCE\tCURRENCY\tCREDIT LIMIT\tMAX SESSIONS\tNUMBER\tLANG\tTARIFF\tBLOCKED")
		for _, a := range accts {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%v\n", a.Username, a.Balance, a.Currency, a.CreditLimit,
				a.MaxSessions, a.AssociatedNumber, a.Language, a.Tariff, a.Blocked)
		}
		return w.Flush()
	}
}

func (e *env) accountShow(fs *flag.FlagSet) func(callback.Store, *Config) error {
	username := fs.String("username", "", "account username (required)")
	limit := fs.Int("limit", 10, "how many recent callbacks and CDRs to show")
	return func(st callback.Store, _ *Config) error {
		if err := required(fs, "username"); err != nil {
			return err
		}
		a, err := st.GetAccount(e.ctx, *username)
		if err != nil {
			return storeError(err, "account "+*username, "account %s: %w", *username, err)
		}
		clis, err := st.ListCLIs(e.ctx, a.Username)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "account:      %s\nbalance:      %s %s (credit limit %s, available %s)\nmax sessions: %d\nnumber:       %s\nlanguage:     %s\ntariff:       %s\nblocked:      %v\n",
			a.Username, a.Balance, a.Currency, a.CreditLimit, a.Available(), a.MaxSessions, a.AssociatedNumber, a.Language, a.Tariff, a.Blocked)
		var cl []string
		for _, c := range clis {
			cl = append(cl, c.CLI)
		}
		fmt.Fprintf(e.stdout, "CLIs:         %s\n\nrecent callbacks:\n", strings.Join(cl, ", "))
		reqs, err := st.ListRequests(e.ctx, callback.RequestFilter{Username: a.Username, Limit: *limit})
		if err != nil {
			return err
		}
		e.printRequests(reqs)
		cdrs, err := st.ListCDRs(e.ctx, callback.CDRFilter{Account: a.Username, Limit: *limit})
		if err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, "\nCDRs:")
		w := e.table()
		fmt.Fprintln(w, "REQUEST\tLEG\tNUMBER\tSTART\tBILLSEC\tDISPOSITION\tCAUSE\tCHARGE")
		for _, c := range cdrs {
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%d\t%s\t%d\t%s %s\n", c.RequestID, c.Leg, c.Number, fmtTime(c.Start), c.BillSec, c.Disposition, c.Cause, c.Charge, c.Currency)
		}
		return w.Flush()
	}
}

func (e *env) accountPIN(fs *flag.FlagSet) func(callback.Store, *Config) error {
	username := fs.String("username", "", "account username (required)")
	set := fs.String("set", "", "the account's new PIN (stored as a keyed hash under auth.pin_key)")
	clear := fs.Bool("clear", false, "remove the account's PIN")
	return func(st callback.Store, c *Config) error {
		if err := required(fs, "username"); err != nil {
			return err
		}
		if (*set == "") == !*clear {
			return usageError{"give one of -set PIN and -clear"}
		}
		svc, err := adminService(c, st)
		if err != nil {
			return err
		}
		a, err := svc.UpdateAccount(e.ctx, admin.CLIActor, *username, "", func(st *admin.AccountSettings) error {
			st.PIN = set
			return nil
		})
		if err != nil {
			return adminError(err, "account "+*username, "PIN of account %s: %w", *username, err)
		}
		if *clear {
			fmt.Fprintf(e.stdout, "account %s has no PIN now\n", a.Username)
		} else {
			fmt.Fprintf(e.stdout, "account %s has a new PIN\n", a.Username)
		}
		return nil
	}
}

// accountBalance shows a balance or moves it by a ledger entry with its
// reason: -add tops it up, -adjust corrects it either way, -set adjusts it
// to an amount (the entry is what takes it there, computed under the
// account's lock, so a call settled in between is not undone).
func (e *env) accountBalance(fs *flag.FlagSet) func(callback.Store, *Config) error {
	username := fs.String("username", "", "account username (required)")
	set := fs.String("set", "", "adjust the balance to this amount, e.g. 25.00")
	add := fs.String("add", "", "top up by this amount, e.g. 10.00")
	adjust := fs.String("adjust", "", "adjust by this amount, e.g. -2.50")
	reason := fs.String("reason", "", "why the balance moves (recorded in the ledger; default names the command)")
	return func(st callback.Store, c *Config) error {
		if err := required(fs, "username"); err != nil {
			return err
		}
		given := 0
		for _, v := range []string{*set, *add, *adjust} {
			if v != "" {
				given++
			}
		}
		if given > 1 {
			return usageError{"give one of -set, -add and -adjust"}
		}
		if given == 1 {
			svc, err := adminService(c, st)
			if err != nil {
				return err
			}
			entry := &admin.LedgerEntry{Username: *username, Kind: admin.LedgerAdjustment, Reason: *reason}
			flagName, value := "set", *set
			switch {
			case *add != "":
				entry.Kind, flagName, value = admin.LedgerTopUp, "add", *add
			case *adjust != "":
				flagName, value = "adjust", *adjust
			}
			m, err := callback.ParseMoney(value)
			if err != nil {
				return usageError{"-" + flagName + ": " + err.Error()}
			}
			if flagName == "set" {
				entry.SetTo = &m
			} else {
				entry.Amount = m
			}
			if entry.Reason == "" {
				entry.Reason = "callbackd account balance -" + flagName + " " + value
			}
			if _, _, err := svc.PostLedger(e.ctx, admin.CLIActor, entry); err != nil {
				return adminError(err, "account "+*username, "balance of %s: %w", *username, err)
			}
		}
		a, err := st.GetAccount(e.ctx, *username)
		if err != nil {
			return storeError(err, "account "+*username, "account %s: %w", *username, err)
		}
		fmt.Fprintf(e.stdout, "%s %s %s\n", a.Username, a.Balance, a.Currency)
		return nil
	}
}

func (e *env) accountCLI(fs *flag.FlagSet) func(callback.Store, *Config) error {
	username := fs.String("username", "", "account username (required)")
	add := fs.String("add", "", "caller ID to map to the account (E.164 digits)")
	remove := fs.String("remove", "", "caller ID to unmap from the account")
	return func(st callback.Store, c *Config) error {
		if err := required(fs, "username"); err != nil {
			return err
		}
		svc, err := adminService(c, st)
		if err != nil {
			return err
		}
		if *add != "" {
			if _, err := svc.AddCLI(e.ctx, admin.CLIActor, *username, *add); err != nil {
				var ve *callback.ValidationError
				switch {
				case errors.As(err, &ve):
					return usageError{fmt.Sprintf("-add %q is not a phone number", *add)}
				case errors.Is(err, callback.ErrNotFound):
					return notFoundError{"account " + *username}
				}
				return storeError(err, "caller ID "+*add, "add CLI %s to %s: %w", *add, *username, err)
			}
		}
		if *remove != "" {
			if err := svc.RemoveCLI(e.ctx, admin.CLIActor, *username, *remove); err != nil {
				return adminError(err, fmt.Sprintf("caller ID %s of account %s", *remove, *username), "remove CLI %s of %s: %w", *remove, *username, err)
			}
		}
		clis, err := st.ListCLIs(e.ctx, *username)
		if err != nil {
			return err
		}
		for _, c := range clis {
			fmt.Fprintln(e.stdout, c.CLI)
		}
		return nil
	}
}

func (e *env) accessAdd(fs *flag.FlagSet) func(callback.Store, *Config) error {
	n := &callback.AccessNumber{}
	fs.StringVar(&n.Number, "number", "", "the access number as it reaches Asterisk (required)")
	trigger := fs.String("trigger", "ani", "ani, dnis or pin")
	fs.StringVar(&n.SubApp, "subapp", "callingcard", "sub-application after answer: callingcard[_<lang>] or 2way_<number>")
	fs.StringVar(&n.Language, "language", "en", "IVR language")
	fs.StringVar(&n.Region, "region", "", "ISO 3166 region for CLI normalisation, e.g. DE")
	fs.StringVar(&n.AreaCode, "area-code", "", "area code prefixed to local-format caller IDs, e.g. 30")
	fs.StringVar(&n.DefaultAccountUsername, "default-account", "", "Default Account Username")
	fs.BoolVar(&n.DisableCLIAuthentication, "disable-cli-auth", false, "Disable CLI Authentication")
	fs.BoolVar(&n.ForceCLIAuthentication, "force-cli-auth", false, "Force CLI Authentication (reject unknown CLIs)")
	fs.BoolVar(&n.ForceDefaultAccount, "force-default-account", false, "Force Default Account")
	fs.StringVar(&n.MinimumBalance, "minimum-balance", "", "Minimum Balance, e.g. '2 USD' (default not set)")
	fs.StringVar(&n.FixedCLI, "fixed-cli", "", "Fixed CLI for leg A")
	fs.IntVar(&n.HangupSIPCode, "hangup-code", callback.DefaultHangupSIPCode, "Hangup SIP Response Code")
	fs.IntVar(&n.RingbackTime, "ringback-time", 0, "Ringback Time in seconds")
	fs.StringVar(&n.RingbackType, "ringback-type", callback.DefaultRingbackType, "Ringback Type: indicate or earlymedia")
	fs.StringVar(&n.DiversionReason, "diversion-reason", callback.DefaultDiversionReason, "The Reason For Diversion")
	fs.BoolVar(&n.AnonymousAccounting, "anonymous-accounting", true, "Enable_Anonymous_Accounting")
	fs.IntVar(&n.DelayBeforeCallback, "delay", 0, "Delay Before Callback in seconds (0: the global default)")
	fs.IntVar(&n.IsCallback, "iscallback", callback.DefaultIsCallback, "Mizu iscallback mode 1-7, or the id (8 or more) of an IVR (callbackd access ivr)")
	fs.IntVar(&n.ANumberHandling, "anumberhandling", callback.DefaultANumberHandling, "Mizu anumberhandling 0-3")
	fs.StringVar(&n.InternalAccount, "internal-account", "", "account paying leg A (PIN trigger)")
	fs.StringVar(&n.CallbackTariff, "callback-tariff", "", "tariff limiting where callbacks may go")
	ivrAuth := fs.Int("ivrauthentication", callback.DefaultIVRAuthentication,
		"Mizu ivrauthentication: 0 no, 1 A number or PIN, 2 only A number, 3 only PIN, 4 A number and PIN")
	return func(st callback.Store, c *Config) error {
		if err := required(fs, "number"); err != nil {
			return err
		}
		n.Trigger = callback.Trigger(*trigger)
		a, err := callback.ParseIVRAuth(*ivrAuth)
		if err != nil {
			return usageError{err.Error()}
		}
		n.IVRAuthentication = a
		svc, err := adminService(c, st)
		if err != nil {
			return err
		}
		// add replaces a number that exists with the options given.
		_, err = st.GetAccessNumber(e.ctx, n.Number)
		create := errors.Is(err, callback.ErrNotFound)
		if err != nil && !create {
			return fmt.Errorf("add access number %s: %w", n.Number, err)
		}
		n, _, err = svc.PutAccessNumber(e.ctx, admin.CLIActor, n.Number, create, "", func(v *admin.AccessNumberView) error {
			*v = admin.ViewAccessNumber(n)
			return nil
		})
		if err != nil {
			return adminError(err, "access number", "add access number: %w", err)
		}
		fmt.Fprintf(e.stdout, "access number %s: %s trigger, sub-application %s\n", n.Number, n.Trigger, n.SubApp)
		return nil
	}
}

// accessIVR sets, removes or lists the IVRs by id that an access number's
// iscallback of 8 or more names (Mizu: "other=ivr id to use").
func (e *env) accessIVR(fs *flag.FlagSet) func(callback.Store, *Config) error {
	id := fs.Int("id", 0, "IVR id, 8 or more, as an access number's -iscallback names it (none: list the IVRs)")
	subApp := fs.String("subapp", "", "sub-application the IVR runs: callingcard[_<lang>...] or 2way_<number>")
	remove := fs.Bool("remove", false, "remove the IVR -id")
	return func(st callback.Store, _ *Config) error {
		is, ok := st.(callback.IVRStore)
		if !ok {
			return errors.New("this store keeps no IVRs")
		}
		switch {
		case *id == 0:
			ivrs, err := is.ListIVRs(e.ctx)
			if err != nil {
				return err
			}
			w := e.table()
			fmt.Fprintln(w, "ID\tSUBAPP")
			for _, v := range ivrs {
				fmt.Fprintf(w, "%d\t%s\n", v.ID, v.SubApp)
			}
			return w.Flush()
		case *remove:
			if err := is.DeleteIVR(e.ctx, *id); err != nil {
				return storeError(err, fmt.Sprintf("IVR %d", *id), "remove IVR %d: %w", *id, err)
			}
			fmt.Fprintf(e.stdout, "IVR %d removed\n", *id)
			return nil
		}
		v := callback.IVR{ID: *id, SubApp: *subApp}
		if err := v.Validate(); err != nil {
			return usageError{err.Error()}
		}
		if err := is.PutIVR(e.ctx, v); err != nil {
			return fmt.Errorf("set IVR %d: %w", v.ID, err)
		}
		fmt.Fprintf(e.stdout, "IVR %d: sub-application %s\n", v.ID, v.SubApp)
		return nil
	}
}

func (e *env) accessList(fs *flag.FlagSet) func(callback.Store, *Config) error {
	return func(st callback.Store, _ *Config) error {
		nums, err := st.ListAccessNumbers(e.ctx)
		if err != nil {
			return err
		}
		w := e.table()
		fmt.Fprintln(w, "NUMBER\tTRIGGER\tSUBAPP\tLANG\tDEFAULT ACCOUNT\tHANGUP CODE\tRINGBACK\tMIN BALANCE\tFIXED CLI\tISCALLBACK\tIVRAUTHENTICATION")
		for _, n := range nums {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%ds %s\t%s\t%s\t%d\t%d\n", n.Number, n.Trigger, n.SubApp, n.Language,
				n.DefaultAccountUsername, n.HangupSIPCode, n.RingbackTime, n.RingbackType, n.MinimumBalance, n.FixedCLI, n.IsCallback,
				n.IVRAuthentication.Seed())
		}
		return w.Flush()
	}
}

func (e *env) accessRemove(fs *flag.FlagSet) func(callback.Store, *Config) error {
	number := fs.String("number", "", "the access number (required)")
	return func(st callback.Store, c *Config) error {
		if err := required(fs, "number"); err != nil {
			return err
		}
		svc, err := adminService(c, st)
		if err != nil {
			return err
		}
		if err := svc.DeleteAccessNumber(e.ctx, admin.CLIActor, *number, ""); err != nil {
			return storeError(err, "access number "+*number, "remove access number %s: %w", *number, err)
		}
		fmt.Fprintf(e.stdout, "access number %s removed\n", *number)
		return nil
	}
}

func (e *env) requestAdd(fs *flag.FlagSet) func(callback.Store, *Config) error {
	r := callback.NewRequest(callback.SourceAdmin)
	fs.StringVar(&r.Username, "username", "", "account the callback is made for (required)")
	fs.StringVar(&r.Authname, "authname", "", "identity for the callback leg (default: username)")
	fs.StringVar(&r.MD5Secret, "md5secret", "", "HA1 of the identity")
	fs.StringVar(&r.OriginalCLI, "cli", "", "number to call back (required)")
	fs.StringVar(&r.OriginalSetCLI, "set-cli", "", "caller ID to present on the callback leg")
	fs.StringVar(&r.OriginalCLD, "cld", "callingcard", "sub-application: callingcard[_<lang>] or 2way_<number>")
	fs.IntVar(&r.CreditTime, "credit-time", 0, "cut leg A after this many seconds (0: no cap)")
	fs.BoolVar(&r.AnonAcctEnabled, "anon-acct", true, "anonymous accounting (X-2Way-Need-Bind)")
	at := fs.String("at", "", "schedule the callback for this time (RFC 3339); default now + Delay Before Callback")
	return func(st callback.Store, c *Config) error {
		if err := required(fs, "username", "cli"); err != nil {
			return err
		}
		if *at != "" {
			t, err := time.Parse(time.RFC3339, *at)
			if err != nil {
				return usageError{"-at: " + err.Error()}
			}
			r.NextCall = t
		}
		svc := &callback.Service{Store: st, Policy: c.Policy(), Check: newRequestChecker(c, newBiller(c, st))}
		if err := svc.Create(e.ctx, r); err != nil {
			var ve *callback.ValidationError
			if errors.As(err, &ve) {
				return usageError{"request refused: " + ve.Error()}
			}
			return err
		}
		fmt.Fprintf(e.stdout, "request %d queued for %s\n", r.ID, fmtTime(r.NextCall))
		return nil
	}
}

func (e *env) requestList(fs *flag.FlagSet) func(callback.Store, *Config) error {
	var f callback.RequestFilter
	status := fs.String("status", "", "only this status, e.g. 'Waiting for retry'")
	result := fs.String("result", "", "only this result, e.g. 'Out of retries'")
	fs.StringVar(&f.Username, "username", "", "only this account")
	fs.StringVar(&f.CLI, "cli", "", "only this original_cli")
	fs.IntVar(&f.Limit, "limit", 50, "at most this many")
	pending := fs.Bool("pending", false, "only unfinished requests")
	return func(st callback.Store, _ *Config) error {
		f.Status, f.Result = callback.Status(*status), callback.Result(*result)
		if f.Status != "" && !f.Status.Valid() {
			return usageError{fmt.Sprintf("-status %q is not one of %q", *status, callback.Statuses)}
		}
		if *pending {
			no := false
			f.Finished = &no
		}
		reqs, err := st.ListRequests(e.ctx, f)
		if err != nil {
			return err
		}
		return e.printRequests(reqs)
	}
}

func (e *env) printRequests(reqs []*callback.Request) error {
	w := e.table()
	fmt.Fprintln(w, "ID\tUSERNAME\tCLI\tCLD\tSTATUS\tRESULT\tCALLS\tNEXT CALL\tSOURCE\tLAST ERROR")
	for _, r := range reqs {
		res := string(r.Result)
		if res == "" {
			res = "NULL"
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", r.ID, r.Username, r.OriginalCLI, r.OriginalCLD,
			r.Status, res, r.CallCount, fmtTime(r.NextCall), r.Source, r.LastError)
	}
	return w.Flush()
}

func (e *env) requestID(fs *flag.FlagSet) (int64, error) {
	if fs.NArg() != 1 {
		return 0, usageError{"want one request id"}
	}
	id, err := strconv.ParseInt(fs.Arg(0), 10, 64)
	if err != nil || id <= 0 {
		return 0, usageError{fmt.Sprintf("%q is not a request id", fs.Arg(0))}
	}
	return id, nil
}

func (e *env) requestShow(fs *flag.FlagSet) func(callback.Store, *Config) error {
	return func(st callback.Store, _ *Config) error {
		id, err := e.requestID(fs)
		if err != nil {
			return err
		}
		r, err := st.GetRequest(e.ctx, id)
		if err != nil {
			return storeError(err, fmt.Sprintf("request %d", id), "request %d: %w", id, err)
		}
		res := string(r.Result)
		if res == "" {
			res = "NULL"
		}
		fmt.Fprintf(e.stdout, "i_callback_request  %d\nusername            %s\nauthname            %s\noriginal_cli        %s\noriginal_set_cli    %s\noriginal_cld        %s\ncall_id             %s\ntwoway_call_id      %s\nstatus              %s\nresult              %s\ncall_count          %d\nnext_call           %s\ncanceled            %v\ncredit_time         %d\nanon_acct_enabled   %v\ndefault_user_used   %v\nfinished            %v\ncreation_time       %s\nsetup_time          %s\nconnect_time        %s\ndisconnect_time     %s\nsource              %s\naccess_number       %s\nlast_cause          %d\nlast_sip_code       %d\nlast_error          %s\n",
			r.ID, r.Username, r.Identity(), r.OriginalCLI, r.OriginalSetCLI, r.OriginalCLD, r.CallID, r.TwowayCallID,
			r.Status, res, r.CallCount, fmtTime(r.NextCall), r.Canceled, r.CreditTime, r.AnonAcctEnabled, r.DefaultUserUsed,
			r.Finished, fmtTime(r.CreationTime), fmtTime(r.SetupTime), fmtTime(r.ConnectTime), fmtTime(r.DisconnectTime),
			r.Source, r.AccessNumber, r.LastCause, r.LastSIPCode, r.LastError)
		hist, err := st.History(e.ctx, id)
		if err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, "\nhistory:")
		w := e.table()
		fmt.Fprintln(w, "TIME\tATTEMPT\tSTATUS\tRESULT\tCAUSE\tSIP\tNOTE")
		for _, ev := range hist {
			fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%d\t%d\t%s\n", fmtTime(ev.Time), ev.Attempt, ev.Status, ev.Result, ev.Cause, ev.SIPCode, ev.Note)
		}
		return w.Flush()
	}
}

func (e *env) requestCancel(fs *flag.FlagSet) func(callback.Store, *Config) error {
	return func(st callback.Store, c *Config) error {
		id, err := e.requestID(fs)
		if err != nil {
			return err
		}
		svc, err := adminService(c, st)
		if err != nil {
			return err
		}
		r, err := svc.CancelRequest(e.ctx, admin.CLIActor, id)
		if err != nil {
			return storeError(err, fmt.Sprintf("request %d", id), "cancel request %d: %w", id, err)
		}
		if r.Finished {
			fmt.Fprintf(e.stdout, "request %d: %s/%s\n", id, r.Status, r.Result)
		} else {
			fmt.Fprintf(e.stdout, "request %d: cancel requested; the node holding the call hangs it up\n", id)
		}
		return nil
	}
}

// tariffImport reads a CSV of rates: prefix,price_per_minute,connection_fee,
// first_increment,next_increment[,description[,blocked]] with an optional
// header row.
func (e *env) tariffImport(fs *flag.FlagSet) func(callback.Store, *Config) error {
	name := fs.String("tariff", "default", "tariff name")
	file := fs.String("file", "", "CSV file, - for standard input (required)")
	replace := fs.Bool("replace", false, "replace the tariff's rates instead of adding to them")
	return func(st callback.Store, c *Config) error {
		if err := required(fs, "file"); err != nil {
			return err
		}
		var in io.Reader = e.stdin
		if *file != "-" {
			f, err := os.Open(*file)
			if err != nil {
				return err
			}
			defer f.Close()
			in = f
		}
		svc, err := adminService(c, st)
		if err != nil {
			return err
		}
		n, err := svc.ImportRates(e.ctx, admin.CLIActor, *name, in, *replace)
		if err != nil {
			var ve *callback.ValidationError
			if errors.As(err, &ve) {
				return usageError{ve.Reason}
			}
			return fmt.Errorf("import tariff %s: %w", *name, err)
		}
		fmt.Fprintf(e.stdout, "tariff %s: %d rates imported\n", *name, n)
		return nil
	}
}

func (e *env) tariffList(fs *flag.FlagSet) func(callback.Store, *Config) error {
	tariff := fs.String("tariff", "default", "tariff name")
	return func(st callback.Store, _ *Config) error {
		rates, err := st.ListRates(e.ctx, *tariff)
		if err != nil {
			return err
		}
		w := e.table()
		fmt.Fprintln(w, "PREFIX\tPER MINUTE\tCONNECTION FEE\tFIRST\tNEXT\tBLOCKED\tDESCRIPTION")
		for _, r := range rates {
			fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%d\t%v\t%s\n", r.Prefix, r.PricePerMinute, r.ConnectionFee, r.FirstIncrement, r.NextIncrement, r.Blocked, r.Description)
		}
		return w.Flush()
	}
}

func (e *env) currencySet(fs *flag.FlagSet) func(callback.Store, *Config) error {
	code := fs.String("code", "", "ISO 4217 code (required)")
	rate := fs.String("rate", "", "units of this currency per one unit of the base currency (required)")
	return func(st callback.Store, c *Config) error {
		if err := required(fs, "code", "rate"); err != nil {
			return err
		}
		svc, err := adminService(c, st)
		if err != nil {
			return err
		}
		cur, err := svc.PutCurrency(e.ctx, admin.CLIActor, *code, *rate)
		if err != nil {
			var ve *callback.ValidationError
			if errors.As(err, &ve) {
				return usageError{"-" + ve.Field + ": " + ve.Reason}
			}
			return err
		}
		fmt.Fprintf(e.stdout, "currency %s rate %s\n", cur.Code, cur.Rate)
		return nil
	}
}

func (e *env) currencyList(fs *flag.FlagSet) func(callback.Store, *Config) error {
	return func(st callback.Store, _ *Config) error {
		cs, err := st.ListCurrencies(e.ctx)
		if err != nil {
			return err
		}
		for _, c := range cs {
			fmt.Fprintf(e.stdout, "%s %s\n", c.Code, c.Rate)
		}
		return nil
	}
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "NULL"
	}
	return t.UTC().Format("2006-01-02 15:04:05.000")
}

// storeError names the thing in the operator's words when the store says
// it is missing ("request 99 not found") or exists already ("account 801
// already exists"); any other error is wrapped with format and args.
func storeError(err error, thing, format string, args ...any) error {
	switch {
	case errors.Is(err, callback.ErrNotFound):
		return notFoundError{thing}
	case errors.Is(err, callback.ErrConflict):
		return usageError{thing + " already exists"}
	}
	return fmt.Errorf(format, args...)
}

// notFoundError is a missing account, request or access number; it exits 1
// like any failed command and still matches callback.ErrNotFound.
type notFoundError struct{ thing string }

func (e notFoundError) Error() string { return e.thing + " not found" }
func (e notFoundError) Unwrap() error { return callback.ErrNotFound }
