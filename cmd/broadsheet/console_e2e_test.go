package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// consoleClient is a browser-like client of the console: it keeps cookies
// and does not follow redirects (tests look at them).
type consoleClient struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newConsoleClient(t *testing.T, base string) *consoleClient {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	return &consoleClient{t: t, base: base, c: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (c *consoleClient) do(method, path, contentType string, body io.Reader) (*http.Response, string) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.c.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (c *consoleClient) get(path string) (*http.Response, string) { return c.do("GET", path, "", nil) }

func (c *consoleClient) post(path string, kv ...string) (*http.Response, string) {
	return c.do("POST", path, formType, form(kv...))
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// login logs in and returns the session's CSRF token (read from a page).
func (c *consoleClient) login(token string) string {
	c.t.Helper()
	resp, body := c.post("admin/login", "token", token, "next", "/admin/")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/" {
		c.t.Fatalf("login: %d %s\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	resp, body = c.get("admin/")
	m := csrfField.FindStringSubmatch(body)
	if resp.StatusCode != 200 || m == nil {
		c.t.Fatalf("dashboard after login: %d, csrf %v\n%s", resp.StatusCode, m, body)
	}
	return m[1]
}

func TestConsoleOffWithoutToken(t *testing.T) {
	s := startStack(t, map[string]string{"BROADSHEET_ADMIN_TOKEN": ""})
	c := newConsoleClient(t, s.url)
	resp, body := c.get("admin/login")
	if resp.StatusCode != 200 || !strings.Contains(body, "The console is off") || !strings.Contains(body, "BROADSHEET_ADMIN_TOKEN") {
		t.Errorf("login page without a token: %d\n%s", resp.StatusCode, body)
	}
	if resp, _ := c.post("admin/login", "token", ""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("logging in with an empty token while off: %d", resp.StatusCode)
	}
	if resp, _ := c.get("admin/"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/admin/login") {
		t.Errorf("dashboard while off: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestConsoleSessionAndCSRF: pages need a session; the cookie is locked
// down; every state-changing form needs its own session's CSRF token;
// logging out ends the session.
func TestConsoleSessionAndCSRF(t *testing.T) {
	s := startStack(t, nil)
	c := newConsoleClient(t, s.url)
	for _, path := range []string{"admin/", "admin/editions", "admin/subscribers", "admin/subscribers/export", "admin/no-such-page"} {
		resp, _ := c.get(path)
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/admin/login?next=") {
			t.Errorf("GET %s without a session: %d %s", path, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	if resp, _ := c.post("admin/subscribers", "email", "nosession@example.com", "status", "active"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("POST without a session: %d", resp.StatusCode)
	}
	if resp, body := c.post("admin/login", "token", "wrong"); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "not the admin token") {
		t.Errorf("wrong token: %d", resp.StatusCode)
	}
	if log := s.cli.stderr.String(); !strings.Contains(log, "Console login failed") {
		t.Errorf("a failed login is not logged:\n%s", log)
	}

	resp, _ := c.post("admin/login", "token", testAdminToken, "next", "https://evil.example/")
	cookie := resp.Header.Get("Set-Cookie")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/" {
		t.Errorf("login with a foreign next: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	for _, want := range []string{"broadsheet_console=", "Path=/admin/", "HttpOnly", "SameSite=Strict", "Max-Age=43200"} {
		if !strings.Contains(cookie, want) {
			t.Errorf("session cookie %q lacks %s", cookie, want)
		}
	}
	if strings.Contains(cookie, "Secure") {
		t.Errorf("session cookie on an http base URL is Secure: %q", cookie)
	}
	csrf := c.login(testAdminToken)

	resp, body := c.get("admin/")
	h := resp.Header
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") ||
		!strings.Contains(csp, "frame-ancestors 'none'") || h.Get("X-Frame-Options") != "DENY" {
		t.Errorf("dashboard headers: CSP %q, XFO %q", csp, h.Get("X-Frame-Options"))
	}
	if regexp.MustCompile(`<script>|<script [^>]*>[^<]`).MatchString(body) || strings.Contains(body, " style=") || strings.Contains(body, " on") && regexp.MustCompile(` on[a-z]+=`).MatchString(body) {
		t.Errorf("the dashboard has inline script or style:\n%s", body)
	}

	// Another admin's session (another browser) has another token.
	other := newConsoleClient(t, s.url)
	otherCSRF := other.login(testAdminToken)
	if otherCSRF == csrf {
		t.Fatal("two sessions share a CSRF token")
	}
	for name, token := range map[string]string{"no token": "", "another session's token": otherCSRF, "a made-up token": "x" + csrf} {
		kv := []string{"email", "forged@example.com", "status", "active"}
		if token != "" {
			kv = append(kv, "csrf", token)
		}
		if resp, body := c.post("admin/subscribers", kv...); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "nothing was changed") {
			t.Errorf("add with %s: %d", name, resp.StatusCode)
		}
	}
	for _, path := range []string{"admin/editions/build", "admin/logout", "admin/subscribers/nobody@example.com/erase"} {
		if resp, _ := c.post(path, "csrf", otherCSRF); resp.StatusCode != http.StatusForbidden {
			t.Errorf("POST %s with another session's token: %d", path, resp.StatusCode)
		}
	}
	if code := s.admin(t, "GET", "/api/subscribers/forged@example.com", "", nil, nil); code != 404 {
		t.Errorf("a forged add added the subscriber: %d", code)
	}
	if code := s.admin(t, "GET", "/api/editions/2026-11-20/send", "", nil, nil); code != 404 {
		t.Errorf("a send job exists: %d", code)
	}
	resp, _ = c.post("admin/subscribers", "email", "Added@Example.com", "name", "Ann", "status", "active", "consent", "signed up at the fair", "csrf", csrf)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/subscribers/added@example.com" {
		t.Errorf("add with the token: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if v := s.subscriber(t, "added@example.com"); v.Status != "active" || v.Consent["text"] != "signed up at the fair" {
		t.Errorf("added: %+v", v)
	}
	// The import takes its token from the upload's first part.
	if resp, _ := c.do("POST", "admin/subscribers/import", "multipart/form-data; boundary=B",
		strings.NewReader("--B\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n"+otherCSRF+"\r\n--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n\r\nemail\nimported@example.com\n\r\n--B--\r\n")); resp.StatusCode != http.StatusForbidden {
		t.Errorf("import with another session's token: %d", resp.StatusCode)
	}
	if code := s.admin(t, "GET", "/api/subscribers/imported@example.com", "", nil, nil); code != 404 {
		t.Errorf("a forged import added the subscriber: %d", code)
	}

	// Logging out ends the session: the old cookie no longer opens pages.
	if resp, _ := c.post("admin/logout", "csrf", csrf); resp.StatusCode != 200 {
		t.Errorf("logout: %d", resp.StatusCode)
	}
	if resp, _ := c.get("admin/"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("dashboard after logout: %d", resp.StatusCode)
	}
	if resp, _ := other.get("admin/"); resp.StatusCode != 200 {
		t.Errorf("the other session ended with this one: %d", resp.StatusCode)
	}
}

func TestConsoleLoginThrottle(t *testing.T) {
	s := startStack(t, nil)
	c := newConsoleClient(t, s.url)
	for i := range 10 {
		if resp, _ := c.post("admin/login", "token", "guess"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i+1, resp.StatusCode)
		}
	}
	resp, body := c.post("admin/login", "token", testAdminToken)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "Too many failed logins") {
		t.Errorf("the 11th login in a minute: %d %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if log := s.cli.stderr.String(); !strings.Contains(log, "Console login refused: too many failures") {
		t.Errorf("the refusal is not logged:\n%s", log)
	}
}

func TestConsoleSecureCookieOnHTTPS(t *testing.T) {
	mail, env := newStackEnv(t)
	env["BROADSHEET_BASE_URL"] = "https://news.example.com/"
	s := startStackWith(t, mail, env)
	resp, _ := newConsoleClient(t, s.url).post("admin/login", "token", testAdminToken)
	if c := resp.Header.Get("Set-Cookie"); !strings.Contains(c, "; Secure") {
		t.Errorf("session cookie on an https base URL: %q", c)
	}
}

// TestConsoleSendEvents: the progress stream sends the job at least once a
// second while it runs, and ends with an "end" event when it is done —
// also on an instance that is not the one sending.
func TestConsoleSendEvents(t *testing.T) {
	mail, env := newStackEnv(t)
	addActive(t, env, 40)
	s := startStackWith(t, mail, env, "--send-rate", "20")
	other := map[string]string{}
	for k, v := range env {
		other[k] = v
	}
	other["BROADSHEET_LISTEN"] = freeAddr(t)
	other["BROADSHEET_BASE_URL"] = "http://" + other["BROADSHEET_LISTEN"] + "/"
	s2 := startStackWith(t, mail, other, "--send-rate", "20")
	c := newConsoleClient(t, s.url)
	csrf := c.login(testAdminToken)
	if resp, body := c.post("admin/editions/build", "date", "2026-11-20", "csrf", csrf); resp.StatusCode != 200 || !strings.Contains(body, "created") {
		t.Fatalf("build: %d\n%s", resp.StatusCode, body)
	}
	if resp, body := c.get("admin/editions/2026-11-20/send"); resp.StatusCode != 200 || !strings.Contains(body, "to 40 active subscribers") {
		t.Fatalf("send confirmation: %d\n%s", resp.StatusCode, body)
	}
	if resp, _ := c.post("admin/editions/2026-11-20/send", "csrf", csrf); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("send: %d", resp.StatusCode)
	}
	if _, body := c.get("admin/editions/2026-11-20"); !strings.Contains(body, `data-events="/admin/editions/2026-11-20/events"`) ||
		!strings.Contains(body, `<noscript><meta http-equiv="refresh"`) {
		t.Errorf("the page of a running send neither follows it nor refreshes:\n%s", body)
	}
	// The second instance's console follows the send the first one runs.
	c2 := newConsoleClient(t, s2.url)
	c2.login(testAdminToken)
	req, _ := http.NewRequest("GET", s2.url+"admin/editions/2026-11-20/events", nil)
	resp, err := c2.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("events: %d %s", resp.StatusCode, ct)
	}
	sc := bufio.NewScanner(resp.Body)
	var event string
	var last time.Time
	var longest time.Duration
	var job struct {
		State string
		Sent  int
		Rate  float64
		ETA   *int `json:"eta_seconds"`
	}
	progress, paced := 0, false
	for sc.Scan() {
		line := sc.Text()
		if name, ok := strings.CutPrefix(line, "event: "); ok {
			event = name
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		if err := json.Unmarshal([]byte(data), &job); err != nil {
			t.Fatalf("event data %q: %v", data, err)
		}
		if event == "end" {
			break
		}
		progress++
		if job.State == "running" && job.Rate > 5 && job.ETA != nil {
			paced = true
		}
		if !last.IsZero() {
			longest = max(longest, time.Since(last))
		}
		last = time.Now()
	}
	if event != "end" || job.State != "done" || job.Sent != 40 {
		t.Errorf("the stream ended on %q with %+v", event, job)
	}
	if !paced {
		t.Error("no progress event gave the running send's rate and time left")
	}
	if progress < 2 || longest > 1500*time.Millisecond {
		t.Errorf("%d progress events, the longest gap %v (want one at least every second)", progress, longest)
	}
}

// TestConsoleSubscribersAndPreview: the list pages through 50 at a time,
// filters by status and finds by address prefix; the export is CSV; the
// mail preview is a sandboxed document only the console may frame; serve
// records the day's active count for the chart.
func TestConsoleSubscribersAndPreview(t *testing.T) {
	mail, env := newStackEnv(t)
	addActive(t, env, 60)
	s := startStackWith(t, mail, env)
	c := newConsoleClient(t, s.url)
	csrf := c.login(testAdminToken)
	rows := regexp.MustCompile(`<tr><td><a href="/admin/subscribers/([^"]+)">`)
	_, body := c.get("admin/subscribers")
	next := regexp.MustCompile(`<a href="([^"]+)" rel="next">`).FindStringSubmatch(body)
	if n := len(rows.FindAllString(body, -1)); n != 50 || next == nil {
		t.Fatalf("first page: %d rows, next %v", n, next)
	}
	_, body = c.get(strings.TrimPrefix(strings.ReplaceAll(next[1], "&amp;", "&"), "/"))
	if n := len(rows.FindAllString(body, -1)); n != 10 || strings.Contains(body, `rel="next"`) {
		t.Errorf("second page: %d rows", n)
	}
	_, body = c.get("admin/subscribers?q=READER5&status=active")
	found := rows.FindAllStringSubmatch(body, -1)
	if len(found) != 11 || found[0][1] != "reader50@example.com" || found[10][1] != "reader5@example.com" { // "0" sorts before "@"
		t.Errorf("search reader5: %v", found)
	}
	if _, body = c.get("admin/subscribers?status=pending"); len(rows.FindAllString(body, -1)) != 0 {
		t.Error("the pending filter lists active subscribers")
	}
	if resp, body := c.get("admin/subscribers?status=nonsense"); resp.StatusCode != 400 || !strings.Contains(body, "is not one of") {
		t.Errorf("a bad status: %d", resp.StatusCode)
	}
	resp, body := c.get("admin/subscribers/export")
	if resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" || !strings.HasPrefix(body, "email,name,status") || strings.Count(body, "\n") != 61 {
		t.Errorf("export: %s, %d lines", resp.Header.Get("Content-Type"), strings.Count(body, "\n"))
	}

	if resp, _ := c.post("admin/editions/build", "date", "2026-11-20", "csrf", csrf); resp.StatusCode != 200 {
		t.Fatalf("build: %d", resp.StatusCode)
	}
	resp, body = c.get("admin/editions/2026-11-20/preview")
	csp := resp.Header.Get("Content-Security-Policy")
	if resp.StatusCode != 200 || !strings.HasPrefix(csp, "sandbox;") || !strings.Contains(csp, "frame-ancestors 'self'") ||
		strings.Contains(csp, "script-src") || !strings.Contains(body, "<html") {
		t.Errorf("preview: %d, CSP %q", resp.StatusCode, csp)
	}
	if _, page := c.get("admin/editions/2026-11-20"); !strings.Contains(page, `<iframe class="preview" src="/admin/editions/2026-11-20/preview" sandbox=""`) {
		t.Errorf("the edition page does not frame the preview in a sandbox:\n%s", page)
	}
	if resp, body := newConsoleClient(t, s.url).get("admin/editions/2026-11-20/preview"); resp.StatusCode != http.StatusSeeOther || strings.Contains(body, "<html") {
		t.Errorf("the preview without a session: %d", resp.StatusCode)
	}

	// Test sends: 1 to 10 good addresses, else the page says why.
	if resp, body := c.post("admin/editions/2026-11-20/test", "to", "not-an-address", "csrf", csrf); resp.StatusCode != 400 || !strings.Contains(body, "The test was not sent") {
		t.Errorf("a test to a bad address: %d", resp.StatusCode)
	}
	if resp, body := c.post("admin/editions/2026-11-20/test", "to", "Ed@Example.com, sub@example.com", "csrf", csrf); resp.StatusCode != 200 || !strings.Contains(body, "Sent 2 test message(s) to ed@example.com, sub@example.com") {
		t.Errorf("a test to two: %d", resp.StatusCode)
	}
	if mail.Received("ed@example.com") != 1 || mail.Received("sub@example.com") != 1 {
		t.Error("the test addresses did not get the edition")
	}
	// Controls on a job whose state does not allow them say so.
	if resp, _ := c.post("admin/editions/2026-11-20/send", "csrf", csrf); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("send: %d", resp.StatusCode)
	}
	mail.WaitFor(t, 62, 10*time.Second)
	var job struct{ State string }
	for deadline := time.Now().Add(10 * time.Second); job.State != "done" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		s.admin(t, "GET", "/api/editions/2026-11-20/send", "", nil, &job)
	}
	if resp, body := c.post("admin/editions/2026-11-20/send/pause", "csrf", csrf); resp.StatusCode != http.StatusConflict || !strings.Contains(body, "could not be paused") {
		t.Errorf("pausing a finished send: %d", resp.StatusCode)
	}
	if resp, _ := c.post("admin/editions/2026-11-20/send/explode", "csrf", csrf); resp.StatusCode != http.StatusNotFound {
		t.Errorf("an unknown action: %d", resp.StatusCode)
	}
	if _, page := c.get("admin/editions/2026-11-20"); !strings.Contains(page, `data-field="sent">60<`) || strings.Contains(page, "data-events") || strings.Contains(page, `http-equiv="refresh"`) {
		t.Errorf("the page of a finished send still follows it, or does not show it")
	}

	rdb, err := clientFromURL(env["BROADSHEET_REDIS_URL"]) // standalone, Cluster or Sentinel
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	counts, err := rdb.HGetAll(t.Context(), "broadsheet:{stats}:active-daily").Result()
	if err != nil || counts[time.Now().UTC().Format(time.DateOnly)] != "60" {
		t.Errorf("the day's active count in Redis: %v %v", counts, err)
	}
}

// TestConsoleStreamEndsAtShutdown: an open progress stream does not hold up
// serve's shutdown.
func TestConsoleStreamEndsAtShutdown(t *testing.T) {
	mail, env := newStackEnv(t)
	addActive(t, env, 50)
	s := startStackWith(t, mail, env, "--send-rate", "2")
	c := newConsoleClient(t, s.url)
	csrf := c.login(testAdminToken)
	c.post("admin/editions/build", "date", "2026-11-20", "csrf", csrf)
	if resp, _ := c.post("admin/editions/2026-11-20/send", "csrf", csrf); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("send: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest("GET", s.url+"admin/editions/2026-11-20/events", nil)
	resp, err := c.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first := make([]byte, 64)
	if _, err := io.ReadAtLeast(resp.Body, first, 20); err != nil {
		t.Fatalf("no event: %v", err)
	}
	start := time.Now()
	if code := s.stop(t); code != 0 {
		t.Errorf("serve exited %d with a progress stream open: %s", code, s.cli.stderr.String())
	}
	if took := time.Since(start); took > 8*time.Second {
		t.Errorf("shutdown took %v with a progress stream open", took)
	}
	_, _ = io.Copy(io.Discard, resp.Body) // the stream has ended
}

// TestConsoleBuildOutcomes: the build form says what the build did:
// created, unchanged, updated, or why the source could not be read.
func TestConsoleBuildOutcomes(t *testing.T) {
	dir := t.TempDir()
	src := writeSource(t, dir, "front.txt", "The First Lead")
	s := startStack(t, map[string]string{"BROADSHEET_SOURCE": src})
	c := newConsoleClient(t, s.url)
	csrf := c.login(testAdminToken)
	build := func(wantStatus int, want string) {
		t.Helper()
		resp, body := c.post("admin/editions/build", "date", "2026-11-20", "csrf", csrf)
		if resp.StatusCode != wantStatus || !strings.Contains(body, want) {
			t.Errorf("build: %d, want %d and %q in\n%s", resp.StatusCode, wantStatus, want, body)
		}
	}
	build(200, "<strong>2026-11-20</strong>: created")
	build(200, "<strong>2026-11-20</strong>: unchanged")
	writeSource(t, dir, "front.txt", "The Second Lead")
	build(200, "<strong>2026-11-20</strong>: updated")
	if err := os.WriteFile(src, []byte("\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	build(422, "Build failed: the source cannot be read as a front page")
	if resp, body := c.post("admin/editions/build", "date", "20-11-2026", "csrf", csrf); resp.StatusCode != 400 || !strings.Contains(body, "YYYY-MM-DD") {
		t.Errorf("a bad day: %d", resp.StatusCode)
	}
}
