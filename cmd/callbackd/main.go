// Command callbackd is the callback server: the FastAGI trigger handler, the
// ARI controller, the dispatcher of the callback_requests queue, and the
// admin commands an operator needs, in one binary.
//
//	callbackd serve [-config callbackd.yaml]   run the server
//	callbackd migrate                         create or upgrade the schema
//	callbackd account|access|request|tariff|currency ...   administration
//	callbackd config                          print the effective configuration
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
  serve                      run the server (FastAGI, ARI controller, dispatcher)
  migrate                    create or upgrade the database schema
  config                     print the effective configuration and where each key comes from
  mail                       read one message on stdin (MTA pipe) and queue its callback
  account add|list|show|balance|cli      manage accounts
  access add|list|remove     manage access numbers and their options
  request add|list|show|cancel           manage callback requests
  tariff import|list         manage tariff rates (CSV import)
  currency set|list          manage currencies and exchange rates

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
	case "mail":
		return e.mail(rest)
	case "account", "access", "request", "tariff", "currency":
		if len(rest) == 0 {
			return usageError{fmt.Sprintf("%s: which subcommand? (see callbackd -h)", cmd)}
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
	cfgPath := fs.String("config", "", "configuration file (YAML); default: none, or $CALLBACKD_CONFIG")
	return fs, cfgPath
}

func (e *env) parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return flag.ErrHelp
		}
		return usageError{err.Error()}
	}
	return nil
}

func (e *env) loadConfig(path string) (Config, error) {
	if path == "" {
		for _, kv := range e.environ {
			if v, ok := strings.CutPrefix(kv, "CALLBACKD_CONFIG="); ok {
				path = v
			}
		}
	}
	return LoadConfig(path, e.environ)
}

func newLogger(c *Config, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Log.Level)); err != nil {
		return nil, fmt.Errorf("log.level %q: %w", c.Log.Level, err)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch c.Log.Format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log.format %q: want text or json", c.Log.Format)
}

func (e *env) config(args []string) error {
	fs, cfgPath := e.flags("config")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	c, err := e.loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	for _, kv := range ConfigKeys(&c) {
		fmt.Fprintf(e.stdout, "%-34s %-40s %s\n", kv[0], kv[1], EnvName(kv[0]))
	}
	return nil
}
