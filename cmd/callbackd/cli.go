package main

import (
	"flag"
	"fmt"
	"strings"
)

// adminCommands lists each command group's subcommands with what they do,
// in the order `callbackd <group> -h` prints them.
var adminCommands = map[string][][2]string{
	"account": {
		{"add", "create an account (username, password, PIN, balance, currency, limits)"},
		{"edit", "change an account's options (Max Sessions, number, language, tariff, limits, blocked)"},
		{"list", "list the accounts"},
		{"show", "one account: balance, caller IDs, recent callbacks and CDRs"},
		{"balance", "show an account's balance, or top it up or adjust it (a ledger entry with its reason)"},
		{"pin", "set or clear an account's PIN (stored as a keyed hash under auth.pin_key)"},
		{"cli", "list, add or remove the caller IDs that identify an account"},
	},
	"access": {
		{"add", "add or replace an access number and its options"},
		{"list", "list the access numbers"},
		{"remove", "remove an access number"},
		{"ivr", "set, remove or list the IVRs by id that an -iscallback of 8 or more names"},
	},
	"request": {
		{"add", "queue a callback request"},
		{"list", "list requests, filtered by status, result, account or CLI"},
		{"show", "one request: every column and its status history"},
		{"cancel", "cancel a request (a live call is hung up)"},
	},
	"tariff": {
		{"import", "import rates from a CSV file"},
		{"list", "list a tariff's rates"},
	},
	"currency": {
		{"set", "set a currency's exchange rate"},
		{"list", "list the currencies"},
	},
	"webhook": {
		{"list", "list status notifications, newest first, by state, request, account or URL"},
		{"show", "one notification: its attempts, last answer and JSON body"},
		{"resend", "send a notification again now (a failed one too), with a new retry window; audited as operator cli"},
		{"account", "show, set (-url -secret -events) or remove (-delete) an account's webhook"},
	},
	"operator": {
		{"add", "add an operator of the admin API and console (role admin, support or reporting)"},
		{"list", "list the operators"},
		{"token", "make an API token for an operator (printed once, stored hashed)"},
		{"set", "change an operator's role or password, or disable them"},
	},
	"cdr": {
		{"export", "write the CDRs of a time range as CSV, streamed (-from, -to, -account)"},
		{"report", "attempts, ASR, ACD, minutes and revenue per day and account, access number or prefix"},
		{"rebuild-totals", "count the dashboard's totals of whole hours again from the CDRs and requests (-from, -to)"},
	},
	"sounds": {
		{"check", "list the prompts missing per language in Asterisk's sounds directory (-dir)"},
	},
}

func subcommandNames(group string) []string {
	var out []string
	for _, c := range adminCommands[group] {
		out = append(out, c[0])
	}
	return out
}

// groupUsage is what `callbackd <group> -h` prints.
func groupUsage(group string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "usage: callbackd %s <subcommand> [flags]\n\nsubcommands:\n", group)
	for _, c := range adminCommands[group] {
		fmt.Fprintf(&b, "  %-8s %s\n", c[0], c[1])
	}
	fmt.Fprintf(&b, "\n'callbackd %s <subcommand> -h' lists its flags.\n", group)
	return b.String()
}

func isHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "help":
		return true
	}
	return false
}

// setUsage makes `callbackd <command> -h` print what the command does,
// every flag, and where the rest of the configuration comes from.
func setUsage(fs *flag.FlagSet, summary string) {
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "usage: callbackd %s [flags]\n\n%s\n\nflags:\n", fs.Name(), summary)
		fs.PrintDefaults()
		fmt.Fprint(w, "\nEvery configuration key is read from the -config file, then from its CALLBACKD_*\n"+
			"variable, then from a flag above; 'callbackd config' prints each key, its value\n"+
			"and where that value comes from.\n")
	}
}

var commandSummaries = map[string]string{
	"serve":   "Runs the server: the FastAGI trigger, the ARI controller, the dispatcher of the\ncallback_requests queue, and the HTTP, SMTP and web front ends that are configured.",
	"init":    "Seeds a first setup that completes a call: the schema, a tariff, one account and one\naccess number, then prints the dialplan lines to paste into Asterisk. What exists is left as it is.",
	"migrate": "Creates or upgrades the database schema.",
	"config":  "Prints every configuration key, its effective value (secrets hidden), where the value\ncomes from (default, file, environment, flag) and its CALLBACKD_* variable.",
	"mail":    "Reads one message on standard input (an MTA pipe) and queues its callback.",
	"demo":    "Runs the whole product against a simulated Asterisk in one process; with -asterisk,\nsimulates Asterisk for a callbackd serve running on this host.",
	"version": "Prints the version, the commit and the Go version of this binary.",
	"health":  "Asks a running server's /readyz and exits 0 when it answers 200: the image's healthcheck.",
}

func commandSummary(name string) string {
	if s, ok := commandSummaries[name]; ok {
		return s
	}
	if group, verb, ok := strings.Cut(name, " "); ok {
		for _, c := range adminCommands[group] {
			if c[0] == verb {
				return strings.ToUpper(c[1][:1]) + c[1][1:] + "."
			}
		}
	}
	return ""
}
