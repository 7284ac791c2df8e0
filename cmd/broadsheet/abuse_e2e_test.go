package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/broadsheet-news/broadsheet/challenge"
)

// subscribeJSON posts {"email": email, …extra} with the headers given.
func subscribeJSON(t *testing.T, s *server, email, extra string, header ...string) (*http.Response, string) {
	t.Helper()
	body := fmt.Sprintf(`{"email":%q%s}`, email, extra)
	return post(t, s.url+"subscribe", "application/json", strings.NewReader(body), header...)
}

// Cross-site form posts get 403 and send nothing; the site itself, the
// configured origins and clients without Origin or Referer get through.
func TestCrossSiteSubscribeRefused(t *testing.T) {
	s := startStack(t, map[string]string{"BROADSHEET_SUBSCRIBE_ORIGINS": "https://partner.example"})
	site := strings.TrimSuffix(s.url, "/")
	for i, tc := range []struct {
		header []string
		want   int
	}{
		{[]string{"Origin", "https://evil.example"}, 403},
		{[]string{"Origin", "null"}, 403},
		{[]string{"Referer", "https://evil.example/page"}, 403},
		{[]string{"Origin", "https://evil.example", "Referer", site + "/"}, 403}, // Origin wins
		{[]string{"Origin", site}, 200},
		{[]string{"Referer", site + "/subscribe"}, 200},
		{[]string{"Origin", "https://partner.example"}, 200},
		{nil, 200}, // curl: neither header
	} {
		resp, body := post(t, s.url+"subscribe", formType, form("email", fmt.Sprintf("x%d@example.com", i)), tc.header...)
		if resp.StatusCode != tc.want {
			t.Errorf("%v: %d %s, want %d", tc.header, resp.StatusCode, body, tc.want)
		}
	}
	s.smtp.WaitFor(t, 4, 10*time.Second)
	time.Sleep(500 * time.Millisecond) // the outbox would have sent any other by now
	for _, m := range s.smtp.Messages() {
		for i := range 4 {
			if strings.Contains(strings.Join(m.To, ","), fmt.Sprintf("x%d@", i)) {
				t.Errorf("a refused cross-site post (x%d) was mailed", i)
			}
		}
	}
	if n := len(s.smtp.Messages()); n != 4 {
		t.Errorf("%d mails, want 4 (the allowed posts)", n)
	}
}

// Past the rate, a JSON client gets 429 with a challenge; solving it lets
// one request through, once. A browser gets the form with the widget,
// served from the site itself under a CSP that allows only its own script.
func TestPastTheRateAProofOfWorkLetsThrough(t *testing.T) {
	s := startStack(t, map[string]string{"BROADSHEET_SUBSCRIBE_RATE": "2"})
	for i := range 2 {
		if resp, body := subscribeJSON(t, s.server, fmt.Sprintf("p%d@example.com", i), ""); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
		}
	}
	resp, body := subscribeJSON(t, s.server, "late@example.com", "")
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("past the rate: %d (Retry-After %q) %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	var answer struct {
		Error     string              `json:"error"`
		Challenge challenge.Challenge `json:"challenge"`
	}
	if err := json.Unmarshal([]byte(body), &answer); err != nil || answer.Challenge.Signature == "" || answer.Error == "" {
		t.Fatalf("429 body %s: %v", body, err)
	}
	solved, err := challenge.Solve(answer.Challenge)
	if err != nil {
		t.Fatal(err)
	}
	extra := fmt.Sprintf(`,"altcha":%q`, solved)
	if resp, body := subscribeJSON(t, s.server, "late@example.com", extra); resp.StatusCode != 200 {
		t.Fatalf("with a solved challenge: %d %s", resp.StatusCode, body)
	}
	if resp, body := subscribeJSON(t, s.server, "again@example.com", extra); resp.StatusCode != 429 {
		t.Fatalf("the same solution twice: %d %s, want 429", resp.StatusCode, body)
	}
	wrong := strings.Replace(solved, solved[10:12], "zz", 1)
	if resp, _ := subscribeJSON(t, s.server, "forged@example.com", fmt.Sprintf(`,"altcha":%q`, wrong)); resp.StatusCode != 429 {
		t.Fatalf("a forged solution: %d, want 429", resp.StatusCode)
	}
	s.smtp.WaitFor(t, 3, 10*time.Second)
	time.Sleep(500 * time.Millisecond)
	if n := len(s.smtp.Messages()); n != 3 {
		t.Errorf("%d mails, want 3 (two in the rate, one with the proof of work)", n)
	}

	// The form, past the rate: the widget, its script from the site.
	resp, page := post(t, s.url+"subscribe", formType, form("email", "browser@example.com", "name", "Bea"))
	if resp.StatusCode != 429 {
		t.Fatalf("form past the rate: %d", resp.StatusCode)
	}
	for _, want := range []string{"<altcha-widget", "challengejson=", `name="altcha"`, `src="/static/altcha/altcha.js"`,
		`workerurl="/static/altcha/worker.js"`, `value="browser@example.com"`, "<noscript>"} {
		if !strings.Contains(page, want) {
			t.Errorf("challenge page lacks %s", want)
		}
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "worker-src 'self'", "form-action 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("challenge page CSP %q lacks %s", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-eval") || strings.Contains(csp, "blob:") || strings.Contains(csp, "https://altcha") {
		t.Errorf("challenge page CSP %q allows more than the site's own script", csp)
	}
	if _, home := get(t, s.url); strings.Contains(home, "altcha") {
		t.Error("an ordinary page carries the widget")
	}
	for path, ctype := range map[string]string{"static/altcha/altcha.js": "text/javascript", "static/altcha/worker.js": "text/javascript", "static/altcha/altcha.css": "text/css"} {
		resp, body := get(t, s.url+path)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), ctype) || len(body) < 1000 {
			t.Errorf("GET %s: %d %s, %d bytes", path, resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
		}
	}
}

// The limit is kept in Redis: two instances share it, and an IPv6 client
// is counted by its /64.
func TestSubscribeLimitSharedAndPerSlash64(t *testing.T) {
	mail, env := newStackEnv(t)
	env["BROADSHEET_SUBSCRIBE_RATE"] = "3"
	env["BROADSHEET_TRUST_PROXY"] = "127.0.0.1/32"
	a := startStackWith(t, mail, env)
	env2 := map[string]string{}
	for k, v := range env {
		env2[k] = v
	}
	env2["BROADSHEET_LISTEN"] = freeAddr(t)
	b := startServe(t, env2)
	from := func(s *server, ip string, i int) int {
		resp, _ := subscribeJSON(t, s, fmt.Sprintf("v6-%d@example.com", i), "", "X-Forwarded-For", ip)
		return resp.StatusCode
	}
	// Three different /128s of one /64, over two instances: the budget of 3.
	codes := []int{from(a.server, "2001:db8:1:2::1", 0), from(b, "2001:db8:1:2::2", 1), from(a.server, "2001:db8:1:2:ffff::9", 2),
		from(b, "2001:db8:1:2::abcd", 3)}
	if fmt.Sprint(codes) != "[200 200 200 429]" {
		t.Errorf("one /64 over two instances: %v, want [200 200 200 429]", codes)
	}
	if c := from(b, "2001:db8:1:3::1", 4); c != 200 {
		t.Errorf("the next /64: %d, want 200", c)
	}
	if c := from(a.server, "198.51.100.7", 5); c != 200 {
		t.Errorf("an IPv4 client: %d, want 200", c)
	}
}

func TestShortAdminTokenStopsStartUp(t *testing.T) {
	_, env := newStackEnv(t)
	env["BROADSHEET_ADMIN_TOKEN"] = "fifteen-bytes!!"
	c := &cli{env: env}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if code := c.run(ctx, "serve", "--schedule", "off"); code != 2 {
		t.Fatalf("serve with a 15-byte admin token: exit %d, want 2; stderr %s", code, c.stderr.String())
	}
	if got := c.stderr.String(); !strings.Contains(got, "BROADSHEET_ADMIN_TOKEN") || !strings.Contains(got, "16") ||
		strings.Contains(got, "fifteen-bytes") || strings.Count(strings.TrimSpace(got), "\n") > 0 {
		t.Errorf("stderr %q: want one line naming the variable and the minimum, not the token", got)
	}
}

// Ten failed authentications a minute, then 429 — even for the right
// token, so a guesser learns nothing — and one log line, not one per try.
func TestAdminAuthenticationThrottled(t *testing.T) {
	s := startStack(t, nil)
	call := func(token string) int {
		req, _ := http.NewRequest("GET", s.url+"api/stats", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for i := range 10 {
		if c := call(fmt.Sprintf("guess-%02d-guess-guess", i)); c != 401 {
			t.Fatalf("guess %d: %d, want 401", i, c)
		}
	}
	if c := call("guess-10-guess-guess"); c != 429 {
		t.Fatalf("11th guess: %d, want 429", c)
	}
	if c := call(testAdminToken); c != 429 {
		t.Fatalf("the right token after 10 failures: %d, want 429", c)
	}
	if n := strings.Count(s.cli.stderr.String(), "Admin authentication"); n != 1 {
		t.Errorf("%d log lines for 12 failures within the minute, want 1 (the count follows at the minute)", n)
	}
}
