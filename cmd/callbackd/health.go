package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// health asks a running server's /readyz, for container healthchecks
// (the image has no curl): exit 0 when ready, 1 otherwise.
func (e *env) health(args []string) error {
	fs, cfgPath := e.flags("health")
	url := fs.String("url", "", "the URL to ask; default: /readyz on http.listen")
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for the answer")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	if *url == "" {
		c, err := e.loadConfig(*cfgPath)
		if err != nil {
			return err
		}
		if c.HTTP.Listen == "" {
			return usageError{"http.listen is empty: no HTTP server to ask; give -url"}
		}
		host, port, err := net.SplitHostPort(c.HTTP.Listen)
		if err != nil {
			return usageError{fmt.Sprintf("http.listen %q: %v", c.HTTP.Listen, err)}
		}
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "127.0.0.1"
		}
		*url = "http://" + net.JoinHostPort(host, port) + "/readyz"
	}
	ctx, cancel := context.WithTimeout(e.ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		return usageError{fmt.Sprintf("-url %q: %v", *url, err)}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return exitError{code: 1, err: fmt.Errorf("health %s: %w", *url, err)}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	fmt.Fprintln(e.stdout, strings.TrimSpace(string(body)))
	if resp.StatusCode != http.StatusOK {
		return exitError{code: 1, err: fmt.Errorf("health %s: %s", *url, resp.Status)}
	}
	return nil
}
