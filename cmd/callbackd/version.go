package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is set at link time by packaging (-ldflags "-X main.version=1.2.3");
// otherwise it comes from the module's build info (go install ...@v1.2.3)
// or reads "devel".
var version = ""

// buildInfo is what `callbackd version` prints: the version, the VCS commit
// the binary was built from (when the build recorded it) and the Go version.
type buildInfo struct {
	Version, Commit, GoVersion string
	Modified                   bool
}

func readBuildInfo() buildInfo {
	b := buildInfo{Version: version, GoVersion: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if ok {
		if b.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			b.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Commit = s.Value
			case "vcs.modified":
				b.Modified = s.Value == "true"
			}
		}
	}
	if b.Version == "" {
		b.Version = "devel"
	}
	if commit != "" {
		b.Commit = commit
	}
	if b.Commit == "" {
		b.Commit = "unknown"
	}
	return b
}

// commit is set at link time when the build has no VCS stamp (builds from
// a tarball, or with -buildvcs=false).
var commit = ""

func (b buildInfo) String() string {
	c := b.Commit
	if b.Modified {
		c += " (modified)"
	}
	return fmt.Sprintf("callbackd %s\ncommit %s\n%s %s/%s", b.Version, c, b.GoVersion, runtime.GOOS, runtime.GOARCH)
}

func (e *env) version(args []string) error {
	fs, _ := e.flags("version")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, readBuildInfo())
	return nil
}
