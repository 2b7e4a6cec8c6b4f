//go:build linux

package packaging

import (
	"bufio"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// dockerfile is the final stage of the Dockerfile, as an engine would run it.
type dockerfile struct {
	user, workdir   string
	env             map[string]string
	volumes, expose []string
	entrypoint, cmd []string
	healthcheck     []string
}

func parseDockerfile(t *testing.T, path string) dockerfile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Join continuation lines, then keep the last FROM's stage.
	text := strings.ReplaceAll(string(b), "\\\n", " ")
	var d dockerfile
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		instr, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(instr) {
		case "FROM":
			d = dockerfile{env: map[string]string{}}
		case "USER":
			d.user = rest
		case "WORKDIR":
			d.workdir = rest
		case "ENV":
			for _, kv := range strings.Fields(rest) {
				k, v, _ := strings.Cut(kv, "=")
				d.env[k] = v
			}
		case "VOLUME":
			d.volumes = append(d.volumes, strings.Fields(rest)...)
		case "EXPOSE":
			d.expose = append(d.expose, strings.Fields(rest)...)
		case "ENTRYPOINT":
			d.entrypoint = execForm(t, rest)
		case "CMD":
			d.cmd = execForm(t, rest)
		case "HEALTHCHECK":
			_, c, ok := strings.Cut(rest, "CMD ")
			if !ok {
				t.Fatalf("HEALTHCHECK without CMD: %s", rest)
			}
			d.healthcheck = execForm(t, c)
		}
	}
	return d
}

func execForm(t *testing.T, s string) []string {
	var out []string
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		t.Fatalf("not an exec-form list: %s", s)
	}
	return out
}

// The image runs on its own as its unprivileged user: its command line,
// run from / as uid 65534 with the image's environment (its state volume
// mapped to a directory here), serves, passes its healthcheck and stops
// cleanly. Its listen addresses make EXPOSE true.
func TestImageCommandLine(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	d := parseDockerfile(t, "../Dockerfile")
	if d.user == "" || d.user == "root" || strings.HasPrefix(d.user, "0") {
		t.Fatalf("the image runs as %q, want an unprivileged user", d.user)
	}
	if d.workdir == "" || len(d.volumes) == 0 || d.volumes[0] != d.workdir {
		t.Errorf("WORKDIR %q, VOLUME %v: want the state volume as the working directory", d.workdir, d.volumes)
	}
	if !strings.HasPrefix(d.env["CALLBACKD_DATABASE_SQLITE_PATH"], d.workdir+"/") {
		t.Errorf("the store %q is not in the volume %s", d.env["CALLBACKD_DATABASE_SQLITE_PATH"], d.workdir)
	}
	listened := map[string]bool{}
	for _, k := range []string{"CALLBACKD_AGI_LISTEN", "CALLBACKD_HTTP_LISTEN"} {
		host, port, err := net.SplitHostPort(d.env[k])
		if err != nil || host != "0.0.0.0" {
			t.Errorf("%s=%q: inside a container it must listen on 0.0.0.0", k, d.env[k])
		}
		listened[port] = true
	}
	for _, p := range d.expose {
		if !listened[p] {
			t.Errorf("EXPOSE %s, but nothing listens on it", p)
		}
	}
	if len(d.healthcheck) == 0 {
		t.Error("no HEALTHCHECK")
	}

	// The image's file system, as far as the command needs it.
	root, err := os.MkdirTemp("", "image")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(root)
	os.Chmod(root, 0o755)
	bin := filepath.Join(root, "callbackd")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/callbackd").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	state := filepath.Join(root, "state")
	if err := os.Mkdir(state, 0o755); err != nil {
		t.Fatal(err)
	}
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		uid, gid := 65534, 65534
		os.Chown(state, uid, gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	image := func(argv []string) *exec.Cmd {
		args := append([]string{}, argv...)
		if args[0] == "/usr/local/bin/callbackd" {
			args[0] = bin
		}
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir = "/" // as the old image ran; the store path must not depend on it
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
		for k, v := range d.env {
			v = strings.Replace(v, d.workdir, state, 1)
			if strings.HasSuffix(k, "_LISTEN") {
				v = freeAddr(t) // the test talks to 127.0.0.1 only
			}
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		return cmd
	}
	svc := image(append(d.entrypoint, d.cmd...))
	httpEnv := ""
	for _, kv := range svc.Env {
		if strings.HasPrefix(kv, "CALLBACKD_HTTP_LISTEN=") {
			httpEnv = kv
		}
	}
	logf, err := os.Create(filepath.Join(root, "serve.log"))
	if err != nil {
		t.Fatal(err)
	}
	svc.Stdout, svc.Stderr = logf, logf
	if err := svc.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- svc.Wait() }()
	defer func() { svc.Process.Kill(); <-exited }()
	serveLog := func() string { b, _ := os.ReadFile(logf.Name()); return string(b) }

	healthy := false
	for range 100 {
		hc := image(d.healthcheck)
		hc.Env = append(hc.Env, httpEnv) // the same address as the server's
		if out, err := hc.CombinedOutput(); err == nil && strings.Contains(string(out), `"status"`) {
			healthy = true
			break
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("the image's command exited: %v\n%s", err, serveLog())
		case <-time.After(100 * time.Millisecond):
		}
	}
	if !healthy {
		t.Fatalf("healthcheck never passed:\n%s", serveLog())
	}
	if _, err := os.Stat(filepath.Join(state, "callbackd.db")); err != nil {
		t.Errorf("the store is not in the volume: %v", err)
	}
	svc.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		exited <- err
		if err != nil {
			t.Errorf("after SIGTERM: %v\n%s", err, serveLog())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("no stop on SIGTERM:\n%s", serveLog())
	}
}

// The compose file agrees with the dialplan samples it mounts, publishes
// no MariaDB port on the host, checks the health of callbackd and
// Asterisk, and hides none of the image's sound folders.
func TestComposeFile(t *testing.T) {
	b, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			NetworkMode string            `yaml:"network_mode"`
			Ports       []string          `yaml:"ports"`
			Volumes     []string          `yaml:"volumes"`
			Environment map[string]string `yaml:"environment"`
			Healthcheck struct {
				Test []string `yaml:"test"`
			} `yaml:"healthcheck"`
		} `yaml:"services"`
		Volumes map[string]any `yaml:"volumes"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	for name, s := range f.Services {
		for _, p := range s.Ports {
			if strings.Contains(p, "3306") {
				t.Errorf("%s publishes %s on the host: it clashes with a MariaDB of the host", name, p)
			}
		}
		for _, v := range s.Volumes {
			src, dst, _ := strings.Cut(v, ":")
			dst, _, _ = strings.Cut(dst, ":")
			if regexp.MustCompile(`^/var/lib/asterisk/sounds/[a-z]+/digits/?$`).MatchString(dst) {
				t.Errorf("%s mounts %s over the image's own %s", name, src, dst)
			}
			if !strings.HasPrefix(src, ".") && !strings.HasPrefix(src, "/") {
				if _, ok := f.Volumes[src]; !ok {
					t.Errorf("%s uses volume %s, which is not declared", name, src)
				}
			}
		}
	}
	for _, name := range []string{"callbackd", "asterisk", "mariadb"} {
		if len(f.Services[name].Healthcheck.Test) == 0 {
			t.Errorf("%s has no healthcheck", name)
		}
	}
	cb := f.Services["callbackd"].Environment
	conf := func(path, section, key string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		cur := ""
		for _, line := range strings.Split(string(b), "\n") {
			line, _, _ = strings.Cut(line, ";")
			line = strings.TrimSpace(line)
			if strings.HasPrefix(line, "[") {
				cur = strings.Trim(line, "[]")
				continue
			}
			if k, v, ok := strings.Cut(line, "="); ok && cur == section && strings.TrimSpace(k) == key {
				return strings.TrimSpace(v)
			}
		}
		t.Fatalf("%s: no %s in [%s]", path, key, section)
		return ""
	}
	ari := "http://" + conf("../dialplan/http.conf", "general", "bindaddr") + ":" + conf("../dialplan/http.conf", "general", "bindport")
	if cb["CALLBACKD_ARI_URL"] != ari {
		t.Errorf("CALLBACKD_ARI_URL=%s, but http.conf serves ARI at %s", cb["CALLBACKD_ARI_URL"], ari)
	}
	if agi := strings.TrimPrefix(conf("../dialplan/extensions.conf", "globals", "CALLBACKD_AGI"), "agi://"); cb["CALLBACKD_AGI_LISTEN"] != agi {
		t.Errorf("CALLBACKD_AGI_LISTEN=%s, but extensions.conf calls agi://%s", cb["CALLBACKD_AGI_LISTEN"], agi)
	}
	if pw := conf("../dialplan/ari.conf", cb["CALLBACKD_ARI_USER"], "password"); cb["CALLBACKD_ARI_PASSWORD"] != pw {
		t.Errorf("CALLBACKD_ARI_PASSWORD differs from ari.conf's [%s] password", cb["CALLBACKD_ARI_USER"])
	}
	if f.Services["callbackd"].NetworkMode != "host" || f.Services["asterisk"].NetworkMode != "host" {
		t.Errorf("callbackd and Asterisk must share the host network for 127.0.0.1 in the dialplan samples to hold")
	}
	if out, err := exec.Command("docker", "compose", "version").CombinedOutput(); err != nil {
		t.Logf("docker compose is not installed (%s); the file was checked by parsing only", strings.TrimSpace(string(out)))
		return
	}
	cmd := exec.Command("docker", "compose", "-f", "docker-compose.yml", "config", "-q")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("docker compose config: %v\n%s", err, out)
	}
}
