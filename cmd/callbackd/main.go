// Command callbackd is the callback server: the FastAGI trigger handler, the
// ARI controller, the dispatcher of the callback_requests queue, and the
// admin commands an operator needs, in one binary.
//
//	callbackd serve [-config callbackd.yaml]   run the server
//	callbackd init                            seed a first working setup
//	callbackd migrate                         create or upgrade the schema
//	callbackd account|access|request|tariff|currency ...   administration
//	callbackd config                          print the effective configuration
//	callbackd version                         version, commit and Go version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := Run(ctx, os.Args[1:], os.Environ(), os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		var xe exitError
		if errors.As(err, &xe) {
			fmt.Fprintln(os.Stderr, "callbackd:", err)
			os.Exit(xe.code)
		}
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintln(os.Stderr, "callbackd:", err)
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "callbackd:", err)
		os.Exit(1)
	}
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

const usage = `usage: callbackd <command> [flags]

commands:
  demo                       the whole product against a simulated Asterisk, in one process
  demo -asterisk 127.0.0.1:8088   play Asterisk for a running serve: one missed call, one callback
  serve                      run the server (FastAGI, ARI controller, dispatcher)
  init                       seed a first working setup: schema, account, access number, tariff
  migrate                    create or upgrade the database schema
  config                     print the effective configuration and where each key comes from
  version                    print the version, commit and Go version
  health                     ask a running server's /readyz (container healthchecks)
  mail                       read one message on stdin (MTA pipe) and queue its callback
  account add|edit|list|show|balance|pin|cli  manage accounts
  access add|list|remove|ivr manage access numbers and their options, and IVRs by id
  request add|list|show|cancel           manage callback requests
  tariff import|list         manage tariff rates (CSV import)
  currency set|list          manage currencies and exchange rates
  sounds check               list the prompts missing per language in Asterisk's sounds directory
  webhook list|show|resend|account  status notifications: list, show, send again; an account's webhook
  operator add|list|token|set  manage the operators of the admin API and their tokens
  cdr export|report|rebuild-totals  export CDRs as CSV, traffic and revenue reports, recount the dashboard's totals

Every command takes -config FILE; CALLBACKD_* environment variables override
the file (see 'callbackd config'). 'callbackd <command> -h' lists its flags.
`

// env carries what a command needs from the process, so tests can run
// commands in-process.
type env struct {
	ctx     context.Context
	environ []string
	stdin   io.Reader
	stdout  io.Writer
	stderr  io.Writer
}

// Run runs one callbackd command. "-h" prints the command's flags and
// runs nothing.
func Run(ctx context.Context, args, environ []string, stdin io.Reader, stdout, stderr io.Writer) error {
	err := dispatch(ctx, args, environ, stdin, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

func dispatch(ctx context.Context, args, environ []string, stdin io.Reader, stdout, stderr io.Writer) error {
	e := &env{ctx: ctx, environ: environ, stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageError{"no command given"}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return e.serve(rest)
	case "demo":
		return e.demo(rest)
	case "migrate":
		return e.migrate(rest)
	case "config":
		return e.config(rest)
	case "init":
		return e.init(rest)
	case "version", "-version", "--version":
		return e.version(rest)
	case "health":
		return e.health(rest)
	case "mail":
		return e.mail(rest)
	case "account", "access", "request", "tariff", "currency", "sounds", "webhook", "operator", "cdr":
		if len(rest) == 0 {
			fmt.Fprint(stderr, groupUsage(cmd))
			return usageError{fmt.Sprintf("%s: which subcommand? (%s)", cmd, strings.Join(subcommandNames(cmd), ", "))}
		}
		if isHelp(rest[0]) {
			fmt.Fprint(stdout, groupUsage(cmd))
			return nil
		}
		if cmd == "sounds" {
			return e.soundsCmd(rest[0], rest[1:])
		}
		if cmd == "webhook" {
			return e.webhookCmd(rest[0], rest[1:])
		}
		return e.admin(cmd, rest[0], rest[1:])
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usageError{fmt.Sprintf("unknown command %q", cmd)}
}

// flags returns a FlagSet with the options every command shares.
func (e *env) flags(name string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	setUsage(fs, commandSummary(name))
	cfgPath := fs.String("config", "", "configuration file (YAML); default: none, or $CALLBACKD_CONFIG")
	return fs, cfgPath
}

// parse parses flags wherever they stand, so "request show 42 -config f"
// reads f like "request show -config f 42"; "--" ends the flags.
func (e *env) parse(fs *flag.FlagSet, args []string) error {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return flag.ErrHelp
			}
			return usageError{err.Error()}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			positional = append(positional, rest...)
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	if len(positional) > 0 {
		return fs.Parse(append([]string{"--"}, positional...))
	}
	return nil
}

func (e *env) loadConfig(path string) (Config, error) {
	return LoadConfig(e.configPath(path), e.environ)
}

func newLogger(c *Config, w io.Writer) (*slog.Logger, error) {
	return newLeveledLogger(c, new(slog.LevelVar), w)
}

func (e *env) config(args []string) error {
	fs, cfgPath := e.flags("config")
	cf := addConfigFlags(fs)
	if err := e.parse(fs, args); err != nil {
		return err
	}
	path := e.configPath(*cfgPath)
	c, err := LoadConfig(path, e.environ)
	if err != nil {
		return err
	}
	flagged, err := cf.apply(&c)
	if err != nil {
		return err
	}
	src, err := configSources(path, e.environ, flagged)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	if path == "" {
		fmt.Fprintln(w, "# no configuration file (-config or CALLBACKD_CONFIG): defaults, then CALLBACKD_* variables")
	} else {
		fmt.Fprintf(w, "# configuration file %s\n", path)
	}
	for _, msg := range unknownEnv(e.environ) {
		fmt.Fprintf(w, "# %s\n", msg)
	}
	fmt.Fprintln(w, "KEY\tVALUE\tFROM\tVARIABLE")
	for _, kv := range ConfigKeys(&c) {
		from, ok := src[kv[0]]
		if !ok {
			from = srcDefault
		}
		v := kv[1]
		if kv[0] == "node" && v == "" {
			v = nodeName()
			from += " (the host name)"
		}
		if v == "" {
			v = `""`
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", kv[0], v, from, EnvName(kv[0]))
	}
	return w.Flush()
}

// nodeName is the name the dispatcher uses when node is not set: the host
// name.
func nodeName() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "(no host name: " + fmt.Sprint(err) + ")"
	}
	return h
}
