package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/callbackd/callbackd/sounds"
)

// soundsCmd runs `callbackd sounds <verb>`.
func (e *env) soundsCmd(verb string, args []string) error {
	switch verb {
	case "check":
		return e.soundsCheck(args)
	}
	return usageError{fmt.Sprintf("sounds: unknown subcommand %q (%s)", verb, strings.Join(subcommandNames("sounds"), ", "))}
}

// soundsCheck lists, per language, the prompts missing from an Asterisk
// sounds directory; it exits 1 when any is missing.
func (e *env) soundsCheck(args []string) error {
	fs := flag.NewFlagSet("sounds check", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	setUsage(fs, commandSummary("sounds check"))
	dir := fs.String("dir", "/var/lib/asterisk/sounds", "Asterisk's sounds directory (astdatadir/sounds)")
	langs := fs.String("lang", "", "languages to check, comma-separated; default: every language shipped and every language folder in -dir")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("sounds check: unexpected argument %q", fs.Arg(0))}
	}
	var list []string
	if *langs != "" {
		list = strings.Split(*langs, ",")
	}
	res, err := sounds.Check(*dir, list)
	if err != nil {
		return fmt.Errorf("sounds check: %w", err)
	}
	missing := 0
	for _, m := range res {
		if len(m.Names) == 0 {
			fmt.Fprintf(e.stdout, "%s: all %d prompts present\n", m.Lang, m.Required)
			continue
		}
		missing += len(m.Names)
		fmt.Fprintf(e.stdout, "%s: %d of %d prompts missing\n", m.Lang, len(m.Names), m.Required)
		for _, n := range m.Names {
			fmt.Fprintf(e.stdout, "  %s\n", n)
		}
	}
	if missing > 0 {
		return exitError{1, errors.New("sounds check: prompts missing; a call plays each in the next language it lists, then en")}
	}
	return nil
}
