package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/tariff"
)

// initSetup seeds a first setup that completes a call: the schema, a
// tariff (a flat rate for every destination, or a rates CSV), one account
// and one access number. What exists already is left as it is, so init can
// be run again. It prints each step and the dialplan lines to paste into
// Asterisk.
func (e *env) init(args []string) error {
	fs, cfgPath := e.flags("init")
	username := fs.String("username", "801", "account to create")
	password := fs.String("password", "", "the account's password (web page, API, email); default: a random one, printed")
	balance := fs.String("balance", "10.00", "the account's starting balance")
	currency := fs.String("currency", "USD", "the account's ISO 4217 currency")
	cli := fs.String("cli", "", "the caller's number that identifies the account on the ANI trigger; default: none, the access number's Default Account pays for any caller")
	number := fs.String("number", "18005550100", "the access number (DID) as it reaches Asterisk")
	subapp := fs.String("subapp", "callingcard", "what runs when the user answers: callingcard or 2way_<number>")
	tariffName := fs.String("tariff", "default", "tariff name")
	rates := fs.String("rates", "", "rates CSV to import (see examples/rates.csv); default: a flat rate for every destination")
	flat := fs.String("flat-rate", "0.02", "price per minute of the flat tariff")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	c, st, err := e.openAdminStore(*cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	out := e.stdout
	if c.Database.MySQLDSN != "" {
		fmt.Fprintf(out, "schema:         up to date (MariaDB/MySQL %s)\n", redactDSN(c.Database.MySQLDSN))
	} else {
		fmt.Fprintf(out, "schema:         up to date (embedded store %s)\n", c.Database.SQLitePath)
	}

	// Tariff: a call to a destination without a rate fails ("destination
	// has no rate"), so a first setup needs one for every destination.
	existing, err := st.ListRates(e.ctx, *tariffName)
	if err != nil {
		return fmt.Errorf("tariff %s: %w", *tariffName, err)
	}
	switch {
	case *rates != "":
		f, err := os.Open(*rates)
		if err != nil {
			return fmt.Errorf("rates: %w", err)
		}
		rs, err := tariff.ParseRatesCSV(f, *tariffName)
		f.Close()
		if err != nil {
			return usageError{fmt.Sprintf("%s: %v", *rates, err)}
		}
		n, err := st.ImportRates(e.ctx, *tariffName, rs, false)
		if err != nil {
			return fmt.Errorf("import tariff %s: %w", *tariffName, err)
		}
		fmt.Fprintf(out, "tariff:         %s, %d rates imported from %s\n", *tariffName, n, *rates)
	case len(existing) > 0:
		fmt.Fprintf(out, "tariff:         %s has %d rates already; left as it is\n", *tariffName, len(existing))
	default:
		price, err := callback.ParseMoney(*flat)
		if err != nil || price < 0 {
			return usageError{fmt.Sprintf("-flat-rate %q is not a price", *flat)}
		}
		var rs []callback.TariffRate
		for d := '0'; d <= '9'; d++ {
			rs = append(rs, callback.TariffRate{Tariff: *tariffName, Prefix: string(d), PricePerMinute: price,
				FirstIncrement: 60, NextIncrement: 60, Description: "flat"})
		}
		if _, err := st.ImportRates(e.ctx, *tariffName, rs, false); err != nil {
			return fmt.Errorf("import tariff %s: %w", *tariffName, err)
		}
		fmt.Fprintf(out, "tariff:         %s, flat %s per minute to every destination (prefixes 0-9, 60/60 s)\n", *tariffName, price)
	}

	// Account.
	a := &callback.Account{Username: *username, Currency: strings.ToUpper(*currency), MaxSessions: 2, Language: "en", Tariff: *tariffName}
	if a.Balance, err = callback.ParseMoney(*balance); err != nil {
		return usageError{"-balance: " + err.Error()}
	}
	shownPassword := *password
	if shownPassword == "" {
		shownPassword = randomPassword()
	}
	h, err := bcrypt.GenerateFromPassword([]byte(shownPassword), bcrypt.DefaultCost)
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	a.PasswordHash, a.HA1 = string(h), callback.HA1(a.Username, c.ARI.Realm, shownPassword)
	switch err := st.CreateAccount(e.ctx, a); {
	case errors.Is(err, callback.ErrConflict):
		fmt.Fprintf(out, "account:        %s exists already; left as it is\n", a.Username)
	case err != nil:
		return fmt.Errorf("add account %s: %w", a.Username, err)
	default:
		fmt.Fprintf(out, "account:        %s, balance %s %s, password %s\n", a.Username, a.Balance, a.Currency, shownPassword)
	}
	if *cli != "" {
		num := strings.TrimPrefix(*cli, "+")
		if !callback.ValidDestination(num) {
			return usageError{fmt.Sprintf("-cli %q is not a phone number", *cli)}
		}
		switch err := st.AddCLI(e.ctx, callback.AccountCLI{CLI: num, Username: a.Username}); {
		case errors.Is(err, callback.ErrConflict):
			fmt.Fprintf(out, "caller ID:      %s is registered already; left as it is\n", num)
		case err != nil:
			return fmt.Errorf("add caller ID %s to %s: %w", num, a.Username, err)
		default:
			fmt.Fprintf(out, "caller ID:      %s identifies account %s\n", num, a.Username)
		}
	}

	// Access number.
	n := &callback.AccessNumber{Number: *number, Trigger: callback.TriggerANI, SubApp: *subapp, Language: "en",
		HangupSIPCode: callback.DefaultHangupSIPCode, RingbackType: callback.DefaultRingbackType,
		DiversionReason: callback.DefaultDiversionReason, AnonymousAccounting: true,
		IsCallback: callback.DefaultIsCallback, ANumberHandling: callback.DefaultANumberHandling}
	if *cli == "" {
		n.DefaultAccountUsername = a.Username
	}
	if err := n.Validate(); err != nil {
		return usageError{err.Error()}
	}
	n.ApplyDefaults()
	switch old, err := st.GetAccessNumber(e.ctx, n.Number); {
	case err == nil:
		fmt.Fprintf(out, "access number:  %s exists already (%s trigger, %s); left as it is\n", old.Number, old.Trigger, old.SubApp)
	case !errors.Is(err, callback.ErrNotFound):
		return fmt.Errorf("access number %s: %w", n.Number, err)
	default:
		if err := st.PutAccessNumber(e.ctx, n); err != nil {
			return fmt.Errorf("add access number %s: %w", n.Number, err)
		}
		who := "callers whose number is registered to account " + a.Username
		if n.DefaultAccountUsername != "" {
			who = "any caller, at account " + a.Username + "'s expense (give -cli to limit it to one number)"
		}
		fmt.Fprintf(out, "access number:  %s, ANI trigger, %s after answer; calls back %s\n", n.Number, n.SubApp, who)
	}
	fmt.Fprint(out, dialplanSnippet(&c, n.Number))
	return nil
}

// dialplanSnippet is what Asterisk needs for the access number: the
// FastAGI address callbackd listens on, the route from the trunk's context
// and the access number's own context (dialplan/extensions.conf has every
// variant), and the ARI user.
func dialplanSnippet(c *Config, number string) string {
	agiAddr := c.AGI.Listen
	if host, port, err := net.SplitHostPort(agiAddr); err == nil && (host == "" || host == "0.0.0.0" || host == "::") {
		agiAddr = net.JoinHostPort("127.0.0.1", port)
	}
	var b strings.Builder
	b.WriteString("\nPaste into Asterisk's extensions.conf (dialplan/extensions.conf has every trigger):\n\n")
	if agiAddr == "" {
		b.WriteString("; agi.listen is empty: FastAGI is off, so no access number can trigger a callback\n")
	}
	fmt.Fprintf(&b, "[globals]\nCALLBACKD_AGI=agi://%s\n\n", agiAddr)
	fmt.Fprintf(&b, "[from-trunk]\nexten => %s,1,Goto(callback-ani-%s,${EXTEN},1)\n\n", number, number)
	fmt.Fprintf(&b, "[callback-ani-%s]\n", number)
	b.WriteString("exten => _X.,1,AGI(${CALLBACKD_AGI}/ani,number=${EXTEN},reject=dialplan)\n")
	b.WriteString(" same => n,GotoIf($[\"${CALLBACKD_ACTION}\" = \"ivr\"]?ivr)\n")
	b.WriteString(" same => n,GotoIf($[\"${CALLBACKD_SIP_CODE}\" = \"\"]?unreachable)\n")
	b.WriteString(" same => n,ExecIf($[\"${CHANNEL(channeltype)}\" = \"PJSIP\"]?PJSIPHangup(${CALLBACKD_SIP_CODE}))\n")
	b.WriteString(" same => n,Hangup(${CALLBACKD_HANGUP_CAUSE})\n")
	b.WriteString(" same => n(unreachable),Hangup()\n")
	fmt.Fprintf(&b, " same => n(ivr),Stasis(%s,ivr,${EXTEN})\n same => n,Hangup()\n", c.ARI.App)
	user := c.ARI.User
	if user == "" {
		user = "callbackd"
	}
	fmt.Fprintf(&b, "\nand into ari.conf (http.conf needs enabled = yes):\n\n[%s]\ntype = user\nread_only = no\npassword = <the same as ari.password>\n", user)
	if !ariConfigured(c) {
		b.WriteString("\nThen set ari.url, ari.user and ari.password (or CALLBACKD_ARI_*) and start callbackd serve.\n")
	}
	return b.String()
}

// randomPassword returns 12 characters from an alphabet without look-alikes.
func randomPassword() string {
	const alphabet = "abcdefghijkmnpqrstuvwxyzACDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 12)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
