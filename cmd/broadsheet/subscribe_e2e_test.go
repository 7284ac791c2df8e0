package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/broadsheet-news/broadsheet/internal/redistest"
	"github.com/broadsheet-news/broadsheet/internal/smtptest"
	"github.com/broadsheet-news/broadsheet/subscription"
)

const (
	testSecret     = "a-test-signing-secret-0123456789"
	testAdminToken = "admin-token-for-tests"
)

// stack is serve on real Redis, mailing through a real SMTP server.
type stack struct {
	*server
	smtp   *smtptest.Server
	signer *subscription.Signer
}

func startStack(t *testing.T, extra map[string]string) *stack {
	t.Helper()
	mail, env := newStackEnv(t)
	for k, v := range extra {
		env[k] = v
	}
	return startStackWith(t, mail, env)
}

// newStackEnv returns a test SMTP server and the environment of a stack
// around it (real Redis, secrets, admin token, a free address).
func newStackEnv(t *testing.T) (*smtptest.Server, map[string]string) {
	t.Helper()
	mail := smtptest.Start(t)
	addr := freeAddr(t)
	return mail, map[string]string{
		"BROADSHEET_REDIS_URL":   redistest.URL(t),
		"BROADSHEET_DATA_DIR":    filepath.Join(t.TempDir(), "data"),
		"BROADSHEET_SMTP_URL":    mail.URL(),
		"BROADSHEET_FROM":        "The Test Times <news@example.com>",
		"BROADSHEET_SECRET":      testSecret,
		"BROADSHEET_ADMIN_TOKEN": testAdminToken,
		"BROADSHEET_TITLE":       "The Test Times",
		"BROADSHEET_LISTEN":      addr,
		"BROADSHEET_BASE_URL":    "http://" + addr + "/",
	}
}

// startStackWith starts serve on env (from newStackEnv) with more flags.
func startStackWith(t *testing.T, mail *smtptest.Server, env map[string]string, args ...string) *stack {
	t.Helper()
	srv := startServe(t, env, args...)
	signer, err := subscription.NewSigner([]string{testSecret})
	if err != nil {
		t.Fatal(err)
	}
	return &stack{server: srv, smtp: mail, signer: signer}
}

func post(t *testing.T, url, contentType string, body io.Reader, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func form(kv ...string) io.Reader {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return strings.NewReader(v.Encode())
}

const formType = "application/x-www-form-urlencoded"

// admin calls the admin API and decodes a JSON answer into out (if any).
func (s *stack) admin(t *testing.T, method, path, contentType string, body io.Reader, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, s.url+path, body)
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: %d, not JSON: %v", method, path, resp.StatusCode, err)
		}
	}
	return resp.StatusCode
}

type subscriberView struct {
	Email, Name, Status, Format string
	Consent                     map[string]string
	Result                      string // of an add
}

func (s *stack) subscriber(t *testing.T, email string) subscriberView {
	t.Helper()
	var v subscriberView
	if code := s.admin(t, "GET", "/api/subscribers/"+email, "", nil, &v); code != 200 {
		t.Fatalf("GET /api/subscribers/%s: %d", email, code)
	}
	return v
}

var confirmLink = regexp.MustCompile(`http://[^\s"<>]+/confirm/[A-Za-z0-9_-]+`)
var preferencesLink = regexp.MustCompile(`http://[^\s"<>]+/preferences/[A-Za-z0-9_-]+`)

// TestSubscriptionFlow: subscribe → the confirmation mail arrives → its
// link confirms → preferences and one-click unsubscribe work.
func TestSubscriptionFlow(t *testing.T) {
	s := startStack(t, nil)
	resp, body := post(t, s.url+"subscribe", formType, form("email", "  Reader@Example.COM ", "name", "Ann Reader"))
	if resp.StatusCode != 200 || !strings.Contains(body, "Check your inbox") {
		t.Fatalf("POST /subscribe: %d\n%s", resp.StatusCode, body)
	}
	msgs := s.smtp.WaitFor(t, 1, 5*time.Second)
	m := msgs[0].Parsed(t)
	if got := m.Header.Get("To"); !strings.Contains(got, "<reader@example.com>") {
		t.Errorf("To: %q", got)
	}
	if got := m.Header.Get("Subject"); got != "Confirm your subscription to The Test Times" {
		t.Errorf("Subject: %q", got)
	}
	if got := m.Header.Get("Message-Id"); !strings.HasSuffix(got, "@example.com>") {
		t.Errorf("Message-ID %q is not at the From domain", got)
	}
	if m.Header.Get("X-Mailer") != "" || m.Header.Get("User-Agent") != "" {
		t.Error("the mail names its mailer")
	}
	raw := msgs[0].Text(t)
	link := confirmLink.FindString(raw)
	prefs := preferencesLink.FindString(raw)
	if link == "" || prefs == "" {
		t.Fatalf("no confirm or preferences link in the mail:\n%s", raw)
	}
	if v := s.subscriber(t, "reader@example.com"); v.Status != "pending" || v.Name != "Ann Reader" || v.Consent["source"] != "form" || v.Consent["ip"] != "127.0.0.1" {
		t.Errorf("before confirming: %+v", v)
	}

	// The mail says what the reader signs up for, and nothing typed into
	// the form: not even the name.
	for _, want := range []string{"The Test Times", s.url, "once a day"} {
		if !strings.Contains(raw, want) {
			t.Errorf("the confirmation mail does not say %q:\n%s", want, raw)
		}
	}
	if strings.Contains(string(msgs[0].Data), "Ann Reader") || strings.Contains(msgs[0].Text(t), "Ann Reader") { // the whole name: a random token may hold "Ann"
		t.Errorf("the confirmation mail holds the name typed into the form:\n%s", msgs[0].Data)
	}

	// A mail scanner's HEAD and GET change nothing: the page shows the
	// publication and one button.
	req, _ := http.NewRequest("HEAD", link, nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("HEAD confirm: %v %v", resp, err)
	}
	for range 2 {
		resp, body := get(t, link)
		if resp.StatusCode != 200 || !strings.Contains(body, "The Test Times") || strings.Count(body, "<button") != 1 ||
			!strings.Contains(body, ">Confirm my subscription</button>") || !strings.Contains(body, `<form method="post"`) {
			t.Fatalf("GET confirm: %d\n%s", resp.StatusCode, body)
		}
	}
	if v := s.subscriber(t, "reader@example.com"); v.Status != "pending" {
		t.Fatalf("HEAD and GET on the confirmation link made the subscriber %s", v.Status)
	}
	if resp, body := post(t, link, formType, nil); resp.StatusCode != 200 || !strings.Contains(body, "You are subscribed") ||
		!strings.Contains(body, `The latest edition: <a href="/editions/`) {
		t.Fatalf("POST confirm: %d\n%s", resp.StatusCode, body)
	}
	// The latest edition is mailed at once (--welcome-edition is on).
	welcome := s.smtp.WaitFor(t, 2, 5*time.Second)[1].Parsed(t)
	if got := welcome.Header.Get("List-Unsubscribe"); !strings.Contains(got, "/unsubscribe/") || !strings.Contains(welcome.Header.Get("To"), "reader@example.com") {
		t.Errorf("the welcome mail is not the edition: To %q, List-Unsubscribe %q", welcome.Header.Get("To"), got)
	}
	if resp, body := post(t, link, formType, nil); resp.StatusCode != 200 || !strings.Contains(body, "Already confirmed") {
		t.Errorf("confirm again: %d", resp.StatusCode)
	}
	if resp, body := get(t, link); resp.StatusCode != 200 || !strings.Contains(body, "Already confirmed") || strings.Contains(body, "<button") {
		t.Errorf("GET after confirming: %d\n%s", resp.StatusCode, body)
	}
	v := s.subscriber(t, "reader@example.com")
	if v.Status != "active" || v.Consent["confirmed_at"] == "" || v.Consent["confirm_ip"] != "127.0.0.1" {
		t.Errorf("after confirming: %+v", v)
	}

	// Preferences: GET shows, POST changes the format.
	if resp, body := get(t, prefs); resp.StatusCode != 200 || !strings.Contains(body, "reader@example.com") {
		t.Errorf("GET preferences: %d", resp.StatusCode)
	}
	if resp, body := post(t, prefs, formType, form("action", "save", "format", "text")); resp.StatusCode != 200 || !strings.Contains(body, "Saved") {
		t.Errorf("POST preferences: %d", resp.StatusCode)
	}
	if v := s.subscriber(t, "reader@example.com"); v.Format != "text" {
		t.Errorf("format after saving preferences: %q", v.Format)
	}

	// Unsubscribe: GET changes nothing; POST one-click does, with 200,
	// no redirect, no cookie, and again.
	unsub := s.url + "unsubscribe/" + s.signer.Sign(subscription.PurposeUnsubscribe, 1, time.Now())
	if resp, body := get(t, unsub); resp.StatusCode != 200 || !strings.Contains(body, `<form method="post"`) {
		t.Errorf("GET unsubscribe: %d", resp.StatusCode)
	}
	if v := s.subscriber(t, "reader@example.com"); v.Status != "active" {
		t.Fatalf("a GET unsubscribed: %s", v.Status)
	}
	for i := range 2 {
		resp, _ := post(t, unsub, formType, form("List-Unsubscribe", "One-Click"))
		if resp.StatusCode != 200 || resp.Header.Get("Location") != "" || resp.Header.Get("Set-Cookie") != "" {
			t.Errorf("one-click POST #%d: %d, Location %q, Set-Cookie %q", i+1, resp.StatusCode, resp.Header.Get("Location"), resp.Header.Get("Set-Cookie"))
		}
	}
	v = s.subscriber(t, "reader@example.com")
	if v.Status != "unsubscribed" || v.Consent["left_how"] != "one-click" || v.Consent["left_at"] == "" {
		t.Errorf("after one-click: %+v", v)
	}
	// One-click as multipart/form-data works too.
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	_ = mw.WriteField("List-Unsubscribe", "One-Click")
	_ = mw.Close()
	if resp, _ := post(t, unsub, mw.FormDataContentType(), &mp); resp.StatusCode != 200 {
		t.Errorf("multipart one-click: %d", resp.StatusCode)
	}
	if n := len(s.smtp.Messages()); n != 2 {
		t.Errorf("%d mails sent, want the confirmation and the welcome edition", n)
	}
	// An admin adding the address as active again reactivates it.
	var back subscriberView
	if code := s.admin(t, "POST", "/api/subscribers", "application/json",
		strings.NewReader(`{"email":"reader@example.com","status":"active","consent":"asked by phone"}`), &back); code != 200 {
		t.Fatalf("POST /api/subscribers for an unsubscribed address: %d", code)
	}
	if back.Status != "active" || back.Result != "reactivated" || back.Consent["text"] != "asked by phone" {
		t.Errorf("reactivated: %+v", back)
	}
}

// TestSubscribeBadInput: every bad input gets its 4xx and changes nothing.
func TestSubscribeBadInput(t *testing.T) {
	s := startStack(t, nil)
	tests := []struct {
		name        string
		contentType string
		body        string
		status      int
		want        string
	}{
		{"not an address", formType, "email=not-an-address", 400, "email"},
		{"no dot in the domain", formType, "email=a%40localhost", 400, "email"},
		{"header injection", formType, "email=a%40example.com%0D%0ABcc%3A+x%40evil.example", 400, "email"},
		{"too long", formType, "email=" + strings.Repeat("a", 250) + "%40example.com", 400, "email"},
		{"name with a line break", formType, "email=ok%40example.com&name=A%0AB", 400, "name"},
		{"JSON bad email", "application/json", `{"email":"nope"}`, 400, `"field":"email"`},
		{"JSON garbage", "application/json", `{"email":`, 400, "JSON"},
		{"wrong content type", "text/plain", "email=a@example.com", 400, "form or JSON"},
		{"body too large", formType, "email=a%40example.com&name=" + strings.Repeat("x", 70_000), 413, "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := post(t, s.url+"subscribe", tt.contentType, strings.NewReader(tt.body))
			if resp.StatusCode != tt.status || !strings.Contains(body, tt.want) {
				t.Errorf("status %d (want %d), body lacks %q:\n%.500s", resp.StatusCode, tt.status, tt.want, body)
			}
		})
	}
	// The honeypot: accepted, nothing done.
	if resp, body := post(t, s.url+"subscribe", formType, form("email", "bot@example.com", "website", "http://spam.example")); resp.StatusCode != 200 || !strings.Contains(body, "Check your inbox") {
		t.Errorf("honeypot: %d", resp.StatusCode)
	}
	var stats struct {
		SubscribersTotal int64 `json:"subscribers_total"`
	}
	s.admin(t, "GET", "/api/stats", "", nil, &stats)
	if stats.SubscribersTotal != 0 || len(s.smtp.Messages()) != 0 {
		t.Errorf("bad input changed something: %d subscribers, %d mails", stats.SubscribersTotal, len(s.smtp.Messages()))
	}

	// Tokens: forged, other purpose, expired.
	confirm := s.signer.Sign(subscription.PurposeConfirm, 1, time.Now())
	unsub := s.signer.Sign(subscription.PurposeUnsubscribe, 1, time.Now())
	forged := confirm[:len(confirm)-2] + "AA"
	for _, path := range []string{"confirm/" + forged, "confirm/" + unsub, "unsubscribe/" + confirm, "preferences/" + unsub, "confirm/%00", "unsubscribe/x"} {
		if resp, _ := get(t, s.url+path); resp.StatusCode != 404 {
			t.Errorf("GET /%s: %d, want 404", path, resp.StatusCode)
		}
	}
	if resp, _ := post(t, s.url+"unsubscribe/"+confirm, formType, form("List-Unsubscribe", "One-Click")); resp.StatusCode != 404 {
		t.Errorf("one-click with a confirm token: %d, want 404", resp.StatusCode)
	}
}

func TestConfirmLinkExpires(t *testing.T) {
	s := startStack(t, nil)
	if resp, _ := post(t, s.url+"subscribe", formType, form("email", "late@example.com")); resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode)
	}
	s.smtp.WaitFor(t, 1, 5*time.Second)
	old := s.signer.Sign(subscription.PurposeConfirm, 1, time.Now().Add(-49*time.Hour))
	resp, body := get(t, s.url+"confirm/"+old)
	if resp.StatusCode != 410 || !strings.Contains(body, "expired") || !strings.Contains(body, "/resend") {
		t.Fatalf("expired link: %d\n%s", resp.StatusCode, body)
	}
	if v := s.subscriber(t, "late@example.com"); v.Status != "pending" {
		t.Errorf("an expired link confirmed: %s", v.Status)
	}
	// Asking again within a day sends nothing more.
	if resp, _ := post(t, s.url+"confirm/"+old+"/resend", "", nil); resp.StatusCode != 200 {
		t.Errorf("resend: %d", resp.StatusCode)
	}
	time.Sleep(time.Second) // longer than the outbox takes to send a queued mail
	if n := len(s.smtp.Messages()); n != 1 {
		t.Errorf("%d mails, want 1 (one per day)", n)
	}
}

// TestHundredSubscribesOneMail: 100 concurrent requests for one address
// send one confirmation mail.
func TestHundredSubscribesOneMail(t *testing.T) {
	s := startStack(t, map[string]string{"BROADSHEET_SUBSCRIBE_RATE": "1000"})
	var wg sync.WaitGroup
	codes := make(chan int, 100)
	for range 100 {
		wg.Go(func() {
			req, _ := http.NewRequest("POST", s.url+"subscribe", strings.NewReader(`{"email":"many@example.com"}`))
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				codes <- 0
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		})
	}
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != 200 {
			t.Errorf("a subscribe request answered %d", c)
		}
	}
	s.smtp.WaitFor(t, 1, 10*time.Second) // the outbox sends it after the answers
	time.Sleep(time.Second)              // and would have sent any other by now
	if n := len(s.smtp.Messages()); n != 1 {
		t.Errorf("%d mails for 100 requests, want 1", n)
	}
}

func TestSubscribeRateLimit(t *testing.T) {
	s := startStack(t, map[string]string{"BROADSHEET_SUBSCRIBE_RATE": "3"})
	var last *http.Response
	for i := range 4 {
		last, _ = post(t, s.url+"subscribe", formType, form("email", fmt.Sprintf("r%d@example.com", i)))
	}
	if last.StatusCode != 429 || last.Header.Get("Retry-After") == "" {
		t.Errorf("4th request with a rate of 3/min: %d, Retry-After %q", last.StatusCode, last.Header.Get("Retry-After"))
	}
}

func TestAdminAPI(t *testing.T) {
	s := startStack(t, nil)
	// Auth.
	for _, auth := range []string{"", "Bearer wrong", "Basic " + testAdminToken, testAdminToken} {
		req, _ := http.NewRequest("GET", s.url+"api/subscribers", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 || resp.Header.Get("Content-Type") != "application/json; charset=utf-8" {
			t.Errorf("Authorization %q: %d %s", auth, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}

	// Add: active (no mail) and pending (a confirmation mail).
	var added subscriberView
	if code := s.admin(t, "POST", "/api/subscribers", "application/json",
		strings.NewReader(`{"email":"Vip@Example.com","name":"V. I. P.","status":"active","consent":"signed up at the fair"}`), &added); code != 201 {
		t.Fatalf("POST /api/subscribers: %d", code)
	}
	if added.Email != "vip@example.com" || added.Status != "active" || added.Consent["text"] != "signed up at the fair" || added.Result != "added" {
		t.Errorf("added: %+v", added)
	}
	if code := s.admin(t, "POST", "/api/subscribers", "application/json", strings.NewReader(`{"email":"new@example.com"}`), nil); code != 201 {
		t.Errorf("add pending: %d", code)
	}
	s.smtp.WaitFor(t, 1, 5*time.Second)
	var apiErr map[string]string
	if code := s.admin(t, "POST", "/api/subscribers", "application/json", strings.NewReader(`{"email":"x@example.com","status":"bounced"}`), &apiErr); code != 400 || apiErr["field"] != "status" {
		t.Errorf("bad status: %d %v", code, apiErr)
	}

	// Import: counts with line numbers.
	csvBody := "email,name,status\nimported1@example.com,One,active\nnot-an-email,Two,\nvip@example.com,Again,\nimported2@example.com,Two,pending\nimported3@example.com,Three,weird\n"
	var rep struct {
		Added, Existing, Suppressed int
		Invalid                     []struct {
			Line   int
			Reason string
		}
	}
	if code := s.admin(t, "POST", "/api/subscribers/import", "text/csv", strings.NewReader(csvBody), &rep); code != 200 {
		t.Fatalf("import: %d", code)
	}
	if rep.Added != 2 || rep.Existing != 1 || len(rep.Invalid) != 2 || rep.Invalid[0].Line != 3 || rep.Invalid[1].Line != 6 {
		t.Errorf("import report: %+v", rep)
	}
	// As a multipart upload too.
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	fw, _ := mw.CreateFormFile("file", "subs.csv")
	io.WriteString(fw, "email,name\nuploaded@example.com,Up\n")
	mw.Close()
	if code := s.admin(t, "POST", "/api/subscribers/import", mw.FormDataContentType(), &mp, &rep); code != 200 || rep.Added != 1 {
		t.Errorf("multipart import: %d %+v", code, rep)
	}
	if code := s.admin(t, "POST", "/api/subscribers/import", "text/csv", strings.NewReader("name\nno email column\n"), &apiErr); code != 400 {
		t.Errorf("CSV without an email column: %d", code)
	}

	// List with a cursor, by status.
	var page struct {
		Subscribers []subscriberView
		NextCursor  string `json:"next_cursor"`
	}
	if code := s.admin(t, "GET", "/api/subscribers?status=active&limit=2", "", nil, &page); code != 200 || len(page.Subscribers) != 2 || page.NextCursor == "" {
		t.Fatalf("list page 1: %d %+v", code, page)
	}
	firstEmail := page.Subscribers[0].Email
	s.admin(t, "GET", "/api/subscribers?status=active&limit=2&cursor="+url.QueryEscape(fmt.Sprint(nextOf(t, s))), "", nil, &page)
	if len(page.Subscribers) == 0 || page.Subscribers[0].Email == firstEmail {
		t.Errorf("list page 2 repeats page 1: %+v", page.Subscribers)
	}
	if code := s.admin(t, "GET", "/api/subscribers?status=sleeping", "", nil, &apiErr); code != 400 {
		t.Errorf("bad status filter: %d", code)
	}

	// Export streams CSV.
	req, _ := http.NewRequest("GET", s.url+"api/subscribers/export", nil)
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	exported, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" || !strings.HasPrefix(string(exported), "email,name,status,format,subscribed_at,confirmed_at\n") ||
		strings.Count(string(exported), "\n") != 1+5 {
		t.Errorf("export: %s\n%s", resp.Header.Get("Content-Type"), exported)
	}

	// Delete forgets, and an import cannot bring the address back.
	if code := s.admin(t, "DELETE", "/api/subscribers/vip@example.com", "", nil, nil); code != 204 {
		t.Errorf("DELETE: %d", code)
	}
	if code := s.admin(t, "GET", "/api/subscribers/vip@example.com", "", nil, &apiErr); code != 404 {
		t.Errorf("GET after DELETE: %d", code)
	}
	if code := s.admin(t, "DELETE", "/api/subscribers/vip@example.com", "", nil, &apiErr); code != 404 {
		t.Errorf("DELETE again: %d", code)
	}
	s.admin(t, "POST", "/api/subscribers/import", "text/csv", strings.NewReader("email\nvip@example.com\n"), &rep)
	if rep.Added != 0 || rep.Suppressed != 1 {
		t.Errorf("re-import of an erased address: %+v", rep)
	}
	if code := s.admin(t, "POST", "/api/subscribers", "application/json", strings.NewReader(`{"email":"vip@example.com","status":"active"}`), &apiErr); code != 409 {
		t.Errorf("re-adding an erased address: %d %v", code, apiErr)
	}

	var stats struct {
		Subscribers      map[string]int64
		SubscribersTotal int64 `json:"subscribers_total"`
	}
	if code := s.admin(t, "GET", "/api/stats", "", nil, &stats); code != 200 || stats.SubscribersTotal != 4 || stats.Subscribers["pending"] != 2 || stats.Subscribers["active"] != 2 {
		t.Errorf("stats: %d %+v", code, stats)
	}
	if code := s.admin(t, "GET", "/api/nothing", "", nil, &apiErr); code != 404 {
		t.Errorf("unknown endpoint: %d", code)
	}
}

// nextOf returns the cursor after the first page of two active subscribers.
func nextOf(t *testing.T, s *stack) string {
	t.Helper()
	var page struct {
		NextCursor string `json:"next_cursor"`
	}
	s.admin(t, "GET", "/api/subscribers?status=active&limit=2", "", nil, &page)
	return page.NextCursor
}

func TestAdminAPIOffWithoutToken(t *testing.T) {
	s := startStack(t, map[string]string{"BROADSHEET_ADMIN_TOKEN": ""})
	resp, body := get(t, s.url+"api/stats")
	if resp.StatusCode != 403 || !strings.Contains(body, "BROADSHEET_ADMIN_TOKEN") {
		t.Errorf("admin API without a token: %d %s", resp.StatusCode, body)
	}
}

// TestSubscribeAnswersAlikeWhenMailIsDown: the answer does not depend on
// the mail server (nor on whether the address was known).
func TestSubscribeAnswersAlikeWhenMailIsDown(t *testing.T) {
	s := startStack(t, map[string]string{"BROADSHEET_SMTP_URL": "smtp://" + freeAddr(t) + "?tls=none"})
	for i, email := range []string{"first@example.com", "first@example.com", "second@example.com"} {
		resp, body := post(t, s.url+"subscribe", formType, form("email", email))
		if resp.StatusCode != 200 || !strings.Contains(body, "Check your inbox") {
			t.Errorf("request %d (%s) with the mail server down: %d", i, email, resp.StatusCode)
		}
	}
}

// TestAddressRefusalSaysWhy: a bad address is refused with the same
// sentence on the form, the API and the CLI.
func TestAddressRefusalSaysWhy(t *testing.T) {
	s := startStack(t, nil)
	const why = `email: "not-an-email" has no @`
	resp, body := post(t, s.url+"subscribe", formType, form("email", "not-an-email"))
	if resp.StatusCode != 400 || !strings.Contains(html.UnescapeString(body), why) {
		t.Errorf("the form: %d, no %q in\n%s", resp.StatusCode, why, body)
	}
	var apiErr map[string]string
	if code := s.admin(t, "POST", "/api/subscribers", "application/json", strings.NewReader(`{"email":"not-an-email"}`), &apiErr); code != 400 || apiErr["error"] != why || apiErr["field"] != "email" {
		t.Errorf("the API: %d %v", code, apiErr)
	}
	c := &cli{env: s.cli.env}
	if code := c.run(t.Context(), "subscribers", "add", "not-an-email"); code != 2 || c.stderr.String() != "broadsheet: "+why+"\n" {
		t.Errorf("the CLI: exit %d, %q", code, c.stderr.String())
	}
}
