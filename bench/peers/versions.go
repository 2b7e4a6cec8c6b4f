package main

import (
	"os"
	"os/exec"
	"strings"
)

func nodeVersion() string {
	b, err := exec.Command("node", "--version").Output()
	if err != nil {
		return "?"
	}
	return strings.TrimPrefix(strings.TrimSpace(string(b)), "v")
}

func pythonVersion() string {
	b, err := exec.Command("/usr/bin/python3", "-c", "import platform; print(platform.python_version())").Output()
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}

// panoramiskVersion is the Debian package's version.
func panoramiskVersion() string {
	b, err := exec.Command("dpkg-query", "-W", "-f=${Version}", "python3-panoramisk").Output()
	if err != nil {
		return "?"
	}
	v := strings.TrimSpace(string(b))
	if i := strings.IndexByte(v, '-'); i > 0 {
		v = v[:i]
	}
	return v
}

var _ = os.Getenv
