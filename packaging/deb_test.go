//go:build linux

package packaging

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	unitPath = "/lib/systemd/system/callbackd.service"
	confPath = "/etc/callbackd/callbackd.yaml"
	binPath  = "/usr/bin/callbackd"
)

// TestDeb builds the package with `make deb`, installs it with dpkg -i,
// runs the unit's command line as the unit's user in its state directory
// (systemctl where systemd runs), makes a callback complete against the
// simulated Asterisk following the README's steps, stops the service, and
// removes the package.
func TestDeb(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and installs the .deb")
	}
	if os.Geteuid() != 0 {
		t.Skip("installs the .deb with dpkg -i, which needs root (CI runs as root)")
	}
	if _, err := exec.LookPath("dpkg"); err != nil {
		t.Skip("not a Debian machine: no dpkg")
	}
	if out, err := exec.Command("dpkg-query", "-W", "-f=${Status}", "callbackd").Output(); err == nil && strings.Contains(string(out), "installed") {
		t.Skip("a callbackd package is installed on this machine already; the test does not replace it")
	}
	deb := buildDeb(t)

	contents := run(t, "dpkg-deb", "-c", deb)
	for _, want := range []string{"./usr/bin/callbackd", "./lib/systemd/system/callbackd.service", "./etc/callbackd/callbackd.yaml",
		"./etc/default/callbackd", "./usr/share/doc/callbackd/examples/rates.csv", "./usr/share/callbackd/dialplan/extensions.conf",
		"./usr/share/callbackd/dialplan/pjsip.conf", "./usr/share/callbackd/sounds/en/callbackd/", "./usr/share/callbackd/sounds/es/digits/"} {
		if !strings.Contains(contents, want) {
			t.Errorf("the package lacks %s", want)
		}
	}

	t.Cleanup(func() { exec.Command("dpkg", "--purge", "callbackd").Run() })
	run(t, "dpkg", "-i", deb)

	u, err := user.Lookup("callbackd")
	if err != nil {
		t.Fatalf("postinst made no callbackd user: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if fi, err := os.Stat("/var/lib/callbackd"); err != nil || fi.Sys().(*syscall.Stat_t).Uid != uint32(uid) {
		t.Fatalf("state directory: %v", err)
	}
	if fi, err := os.Stat(confPath); err != nil || fi.Mode().Perm() != 0o640 || fi.Sys().(*syscall.Stat_t).Gid != uint32(gid) {
		t.Errorf("%s: %v %v, want 0640 root:callbackd (it holds the ARI password)", confPath, fi.Mode(), err)
	}
	if _, err := exec.LookPath("systemd-analyze"); err == nil {
		out, _ := exec.Command("systemd-analyze", "verify", unitPath).CombinedOutput()
		if strings.Contains(string(out), "callbackd.service") {
			t.Errorf("systemd-analyze verify:\n%s", out)
		}
	}
	if _, err := os.Stat("/run/systemd/system"); err == nil {
		// postinst started the service; check it runs, then stop it so the
		// command line below has the store to itself.
		if out, err := exec.Command("systemctl", "is-active", "callbackd").CombinedOutput(); err != nil {
			t.Errorf("systemctl is-active callbackd: %v %s", err, out)
		}
		run(t, "systemctl", "stop", "callbackd")
	}
	unit := parseUnit(t, unitPath)
	for key, want := range map[string]string{"Type": "notify", "User": "callbackd", "StateDirectory": "callbackd",
		"WorkingDirectory": "/var/lib/callbackd", "ProtectSystem": "strict", "NoNewPrivileges": "yes", "Restart": "on-failure"} {
		if got := unit[key]; len(got) == 0 || got[len(got)-1] != want {
			t.Errorf("unit %s=%v, want %s", key, got, want)
		}
	}

	asUser := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(binPath, args...)
		cmd.Dir = "/"
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
		cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/var/lib/callbackd"}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("callbackd %s as callbackd: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	// README: seed the store as the service's user.
	out := asUser("init", "-config", confPath, "-rates", "/usr/share/doc/callbackd/examples/rates.csv")
	if !strings.Contains(out, "access number:  18005550100") {
		t.Fatalf("init:\n%s", out)
	}
	if _, err := os.Stat("/var/lib/callbackd/callbackd.db"); err != nil {
		t.Fatalf("the store is not in the state directory: %v", err)
	}
	if v := asUser("version"); !strings.Contains(v, "callbackd 0.") && !strings.Contains(v, "callbackd ") {
		t.Errorf("version: %s", v)
	}

	// The unit's command line, as the unit runs it: its user, its working
	// directory, a notify socket, on free ports (the machine may run
	// Asterisk or another callbackd on the default ones).
	sim, agi, httpAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	sockDir, err := os.MkdirTemp("", "sd")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(sockDir)
	os.Chmod(sockDir, 0o755)
	sock := filepath.Join(sockDir, "notify")
	nc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	os.Chmod(sock, 0o777)
	argv := strings.Fields(unit["ExecStart"][0])
	svc := exec.Command(argv[0], argv[1:]...)
	svc.Dir = unit["WorkingDirectory"][0]
	svc.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	svc.Env = []string{"PATH=/usr/bin:/bin", "NOTIFY_SOCKET=" + sock, "CALLBACKD_ARI_URL=http://" + sim,
		"CALLBACKD_AGI_LISTEN=" + agi, "CALLBACKD_HTTP_LISTEN=" + httpAddr}
	logf, err := os.Create(filepath.Join(t.TempDir(), "serve.log"))
	if err != nil {
		t.Fatal(err)
	}
	svc.Stdout, svc.Stderr = logf, logf
	if err := svc.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- svc.Wait() }()
	defer func() {
		svc.Process.Kill()
		<-exited
	}()
	serveLog := func() string { b, _ := os.ReadFile(logf.Name()); return string(b) }
	if msg := readNotify(t, nc, "READY=1"); msg == "" {
		t.Fatalf("no READY=1:\n%s", serveLog())
	}

	// README: the first callback, against the simulated Asterisk.
	demo := exec.Command(binPath, "demo", "-asterisk", sim, "-agi", agi, "-timeout", "60s")
	if out, err := demo.CombinedOutput(); err != nil {
		t.Fatalf("demo -asterisk: %v\n%s\nserve:\n%s", err, out, serveLog())
	}
	var show string
	for range 100 {
		show = asUser("request", "show", "1", "-config", confPath)
		if strings.Contains(show, "Successful") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(show, "Successful") {
		t.Fatalf("request 1 did not complete:\n%s\nserve:\n%s", show, serveLog())
	}

	svc.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		exited <- err
		if err != nil {
			t.Errorf("serve after SIGTERM: %v\n%s", err, serveLog())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("serve did not stop on SIGTERM:\n%s", serveLog())
	}
	readNotify(t, nc, "STOPPING=1")

	run(t, "dpkg", "-r", "callbackd")
	if _, err := os.Stat(binPath); !os.IsNotExist(err) {
		t.Errorf("%s after dpkg -r: %v", binPath, err)
	}
	if _, err := os.Stat("/var/lib/callbackd/callbackd.db"); err != nil {
		t.Errorf("dpkg -r removed the call records: %v", err)
	}
	run(t, "dpkg", "--purge", "callbackd")
	os.RemoveAll("/var/lib/callbackd") // the test's own records
}

// buildDeb runs make deb and returns the package it built.
func buildDeb(t *testing.T) string {
	t.Helper()
	cmd := exec.Command("make", "deb")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make deb: %v\n%s", err, out)
	}
	debs, _ := filepath.Glob("../dist/callbackd_*_amd64.deb")
	if len(debs) == 0 {
		t.Fatal("make deb made no dist/callbackd_*_amd64.deb")
	}
	sort.Slice(debs, func(i, j int) bool {
		a, _ := os.Stat(debs[i])
		b, _ := os.Stat(debs[j])
		return a.ModTime().After(b.ModTime())
	})
	abs, _ := filepath.Abs(debs[0])
	return abs
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// parseUnit reads a unit file's [Service] and [Unit] keys; a key given
// several times keeps every value in order.
func parseUnit(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			out[k] = append(out[k], v)
		}
	}
	return out
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func readNotify(t *testing.T, c *net.UnixConn, want string) string {
	t.Helper()
	buf := make([]byte, 4096)
	for range 200 {
		c.SetReadDeadline(time.Now().Add(60 * time.Second))
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("waiting for %q on the notify socket: %v", want, err)
		}
		if msg := string(buf[:n]); strings.Contains(msg, want) {
			return msg
		}
	}
	t.Fatalf("no %q among 200 notifications", want)
	return ""
}
