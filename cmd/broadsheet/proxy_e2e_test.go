package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startNginx runs nginx from PATH on 127.0.0.1 as a reverse proxy to
// upstream (host:port) that appends the peer to X-Forwarded-For, with its
// config, logs and temp files in the test's temp dir; it returns the
// proxy's URL. Without nginx the test is skipped (failed under CI, which
// installs it).
func startNginx(t *testing.T, upstream string) string {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		for _, p := range []string{"/usr/sbin/nginx", "/usr/local/sbin/nginx"} {
			if _, serr := os.Stat(p); serr == nil {
				bin, err = p, nil
			}
		}
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("CI is set but nginx is not installed (apt-get install nginx)")
		}
		t.Skip("skipped: nginx is not installed (apt-get install nginx)")
	}
	dir := t.TempDir()
	addr := freeAddr(t)
	conf := fmt.Sprintf(`master_process off;
daemon off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  server {
    listen %[2]s;
    location / {
      proxy_pass http://%[3]s;
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
  }
}
`, dir, addr, upstream)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, "-p", dir, "-c", path, "-e", filepath.Join(dir, "error.log"))
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start nginx: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return "http://" + addr + "/"
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx did not listen on %s: %v\n%s\n%s", addr, err, out.String(), log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fromAddr returns a client whose connections come from local (a loopback
// address other than the proxy's 127.0.0.1, so client and proxy differ).
func fromAddr(local string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
	}}
}

// Behind a real nginx that appends to X-Forwarded-For, with
// --trust-proxy naming it: forged X-Forwarded-For lines (one or several)
// neither get past the rate limit nor forge the consent IP.
func TestBehindNginxForgedForwardedForIsIgnored(t *testing.T) {
	mail, env := newStackEnv(t)
	env["BROADSHEET_SUBSCRIBE_RATE"] = "3"
	env["BROADSHEET_TRUST_PROXY"] = "127.0.0.1/32, ::1"
	s := startStackWith(t, mail, env)
	proxy := startNginx(t, strings.TrimPrefix(strings.TrimSuffix(s.url, "/"), "http://"))
	client := fromAddr("127.0.0.2")
	codes := []int{}
	for i, forged := range [][]string{
		{"203.0.113.1"},
		{"203.0.113.2, 127.0.0.1"}, // claims to come through the trusted proxy
		{"198.51.100.3", "198.51.100.4"},
		{"192.0.2.99"},
	} {
		req, _ := http.NewRequest("POST", proxy+"subscribe", strings.NewReader(fmt.Sprintf(`{"email":"n%d@example.com"}`, i)))
		req.Header.Set("Content-Type", "application/json")
		for _, line := range forged {
			req.Header.Add("X-Forwarded-For", line)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
	}
	if fmt.Sprint(codes) != "[200 200 200 429]" {
		t.Errorf("four requests with forged X-Forwarded-For, rate 3: %v, want [200 200 200 429]", codes)
	}
	var sub struct {
		Consent struct {
			IP string `json:"ip"`
		} `json:"consent"`
	}
	if code := s.admin(t, "GET", "api/subscribers/n1@example.com", "", nil, &sub); code != 200 || sub.Consent.IP != "127.0.0.2" {
		t.Errorf("consent IP %q (%d), want the client's 127.0.0.2", sub.Consent.IP, code)
	}
	// Another client behind the same proxy has a budget of its own.
	resp, err := fromAddr("127.0.0.3").Post(proxy+"subscribe", "application/json", strings.NewReader(`{"email":"other@example.com"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("another client behind the proxy: %d, want 200", resp.StatusCode)
	}
}
