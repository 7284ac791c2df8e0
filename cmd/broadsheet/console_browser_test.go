package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// EnvAxe names the variable holding the path of axe-core's axe.min.js
// (npm package axe-core, the version .ci/run pins).
const EnvAxe = "BROADSHEET_AXE_JS"

// needBrowser returns Debian's chromium and axe-core's script, or skips the
// test when either is missing — unless CI is set: CI must run it.
func needBrowser(t *testing.T) (chrome, axe string) {
	t.Helper()
	chrome = needChromium(t)
	axe = os.Getenv(EnvAxe)
	if axe == "" {
		home, _ := os.UserHomeDir()
		axe = filepath.Join(home, ".cache", "broadsheet-axe", "node_modules", "axe-core", "axe.min.js")
	}
	if _, err := os.Stat(axe); err != nil {
		skipOrFail(t, fmt.Sprintf("axe-core is not at %s (npm install --prefix ~/.cache/broadsheet-axe axe-core@4.10.3, or set %s)", axe, EnvAxe))
	}
	return chrome, axe
}

// needChromium returns Debian's chromium, or skips the test when it is
// missing — unless CI is set: CI must run it.
func needChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	skipOrFail(t, "chromium is not installed (apt-get install chromium)")
	return ""
}

// skipOrFail skips the test for want of what, or fails it under CI.
func skipOrFail(t *testing.T, what string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("CI is set but %s", what)
	}
	t.Skipf("skipped: %s", what)
}

// newBrowser starts a headless chromium with a fresh profile, closed when
// the test ends.
func newBrowser(t *testing.T, chrome string) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chrome), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// page drives one browser tab through the console, taking screenshots
// and running axe-core on each page it is asked to check.
type browserPage struct {
	t       *testing.T
	ctx     context.Context
	base    string
	axe     string
	shots   string
	checked []string
}

func (p *browserPage) run(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	run1(p, what, chromedp.Steps(steps...))
}

// run1 runs one action and returns its value; a failure ends the test.
func run1[T any](p *browserPage, what string, a chromedp.Action[T]) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		url, _ := chromedp.Run(p.ctx, chromedp.Location())
		html, _ := chromedp.Run(p.ctx, chromedp.Evaluate[string](`(document.querySelector("main") || document.body).outerHTML`))
		p.t.Fatalf("%s (at %s): %v\n%s", what, url, err, html)
	}
	return v
}

// axeViolation is a serious or critical finding of axe-core.
type axeViolation struct {
	ID, Impact, Help string
	Nodes            []string
}

type axeResult struct {
	Passes     int
	Violations []axeViolation
}

// check screenshots the current page at 390 and 1280 px and runs axe-core
// on it: no serious or critical violation may remain.
func (p *browserPage) check(name string) {
	p.t.Helper()
	start := time.Now()
	for _, width := range []int64{390, 1280} {
		// The pause lets a framed preview (painted by its own process) catch up.
		p.run("resize for "+name, chromedp.EmulateViewport(width, 800), chromedp.Sleep(300*time.Millisecond))
		png := run1(p, "screenshot "+name, chromedp.FullScreenshot(100))
		file := filepath.Join(p.shots, fmt.Sprintf("%s-%d.png", name, width))
		if err := os.WriteFile(file, png, 0o644); err != nil {
			p.t.Fatal(err)
		}
		// A full-page capture does not wait for a frame painted by another
		// process: the mail preview also gets a capture of the viewport
		// scrolled to it.
		if run1(p, "frame? "+name, chromedp.Evaluate[bool](`document.querySelector("iframe") !== null`)) {
			p.run("scroll to the frame", chromedp.ScrollIntoView(css("iframe")), chromedp.Sleep(500*time.Millisecond))
			png := run1(p, "frame screenshot "+name, chromedp.CaptureScreenshot())
			if err := os.WriteFile(filepath.Join(p.shots, fmt.Sprintf("%s-frame-%d.png", name, width)), png, 0o644); err != nil {
				p.t.Fatal(err)
			}
		}
		if run1(p, "measure "+name, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`)) {
			p.t.Errorf("%s is wider than the window at %d px", name, width)
		}
	}
	// Back to the window's own size, at the top, for the clicks that follow.
	p.run("reset the viewport", chromedp.ResetViewport(), chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`),
		chromedp.Sleep(100*time.Millisecond))
	script, err := os.ReadFile(p.axe)
	if err != nil {
		p.t.Fatal(err)
	}
	p.run("inject axe-core", chromedp.Evaluate[chromedp.Void](string(script)))
	res := run1(p, "axe "+name, chromedp.Evaluate[axeResult](`axe.run(document).then(r => ({
			passes: r.passes.length,
			violations: r.violations
				.filter(v => v.impact === "serious" || v.impact === "critical")
				.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(" ")).slice(0, 5)}))}))`,
		chromedp.EvalAwaitPromise))
	if res.Passes == 0 {
		p.t.Errorf("axe on %s checked nothing", name)
	}
	for _, v := range res.Violations {
		p.t.Errorf("axe on %s: %s (%s): %s — %v", name, v.ID, v.Impact, v.Help, v.Nodes)
	}
	p.checked = append(p.checked, name)
	p.t.Logf("%s checked (%v)", name, time.Since(start).Round(time.Millisecond))
}

// frameLoaded reports whether a frame of the page has loaded a URL ending
// in path, within a few seconds.
func (p *browserPage) frameLoaded(path string) bool {
	p.t.Helper()
	for range 50 {
		targets, err := chromedp.Targets(p.ctx)
		if err != nil {
			p.t.Fatal(err)
		}
		for _, ti := range targets {
			if ti.Type == "iframe" && strings.HasSuffix(ti.URL, path) {
				return true
			}
		}
		tree, err := chromedp.Call(p.ctx, page.GetFrameTree, cdp.Empty{})
		if err != nil {
			p.t.Fatal(err)
		}
		for _, f := range tree.FrameTree.ChildFrames {
			if strings.HasSuffix(f.Frame.URL, path) {
				return true
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

// tabTo presses Tab until the focused element's label, text or value is
// name (at most 40 times), or fails the test.
func (p *browserPage) tabTo(name string) {
	p.t.Helper()
	var seen []string
	for range 40 {
		p.run("press Tab", chromedp.KeyEvent(kb.Tab))
		got := run1(p, "focused element", chromedp.Evaluate[string](`(e => !e ? "" :
			(e.labels && e.labels.length ? e.labels[0].textContent : (e.textContent || e.value || "")).trim())(document.activeElement)`))
		if got == name {
			return
		}
		seen = append(seen, got)
	}
	p.t.Fatalf("Tab never reached %q; it went through %q", name, seen)
}

func (p *browserPage) text(sel string) string {
	p.t.Helper()
	// One evaluation finds the node and reads it: live progress replaces
	// these nodes as it updates, so a node found by one call may be gone by
	// the next ("No node with given id found").
	const missing = "\x00missing"
	js := fmt.Sprintf(`(function(){const e = document.querySelector(%q); return e ? e.innerText : %q})()`, sel, missing)
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := run1(p, "read "+sel, chromedp.Evaluate[string](js))
		if got != missing {
			return got
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("read %s: no such element after 30s", sel)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func button(label string) chromedp.Search {
	return chromedp.Search(fmt.Sprintf(`//button[normalize-space()=%q]`, label))
}
func link(label string) chromedp.Search {
	return chromedp.Search(fmt.Sprintf(`//a[normalize-space()=%q]`, label))
}
func heading(text string) chromedp.Search {
	return chromedp.Search(fmt.Sprintf(`//h1[normalize-space()=%q]`, text))
}
func css(sel string) chromedp.CSS { return chromedp.CSS(sel) }

// TestConsoleInBrowser walks the console in a real browser: log in, build,
// open the preview, test-send, send and watch the progress to the end,
// import a CSV file, find and erase a subscriber, log out. Every page is
// screenshot at both widths and checked by axe-core.
func TestConsoleInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: a real browser")
	}
	chrome, axe := needBrowser(t)
	mail, env := newStackEnv(t)
	addActive(t, env, 40)
	// A slow send (2 a second): the test sees it run, pause, resume and end
	// even on a loaded machine.
	s := startStackWith(t, mail, env, "--send-rate", "2")
	shots := t.ArtifactDir()
	p := &browserPage{t: t, ctx: newBrowser(t, chrome), base: s.url, axe: axe, shots: shots}
	t.Logf("screenshots in %s", shots)

	// Logged out, the console sends you to the login page.
	p.run("open the console", chromedp.Navigate(s.url+"admin/editions"), chromedp.WaitVisible(css(`#token`)))
	p.check("login")
	// By keyboard alone: the token field is reached with Tab, Enter logs in.
	p.tabTo("Admin token")
	p.run("log in", chromedp.KeyEvent(testAdminToken), chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(css(`#build-h`)))
	// Every link and button of the navigation is reached with Tab.
	for _, name := range []string{"Skip to content", "Dashboard", "Editions", "Subscribers", "Log out", "Build now"} {
		p.tabTo(name)
	}

	// Some history for the chart: 60 days of counts, with a gap.
	rdb, err := clientFromURL(env["BROADSHEET_REDIS_URL"]) // standalone, Cluster or Sentinel
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	for i := 1; i <= 60; i++ {
		if i < 20 || i > 25 {
			day := time.Now().UTC().AddDate(0, 0, -i).Format(time.DateOnly)
			rdb.HSet(t.Context(), "broadsheet:{stats}:active-daily", day, 40-i/2)
		}
	}
	p.run("dashboard", chromedp.Click(link("Dashboard")), chromedp.WaitVisible(css(`svg.chart`)))
	if got := run1(p, "chart", chromedp.TextContent(css(`svg.chart desc`))); !strings.Contains(got, "40 today") || !strings.Contains(got, "55 of 90 days") {
		t.Errorf("chart: %q", got)
	}
	if got := p.text(`.tiles`); !strings.Contains(got, "40\nactive") {
		t.Errorf("dashboard counts: %q", got)
	}
	p.check("dashboard")

	// Build an edition.
	p.run("build", chromedp.Click(link("Editions")), chromedp.WaitVisible(css(`#date`)),
		chromedp.SetValue(css(`#date`), "2026-11-20"), chromedp.Click(button("Build now")),
		chromedp.WaitVisible(css(`.result`)))
	if got := p.text(`.result`); !strings.Contains(got, "2026-11-20: created") {
		t.Errorf("build result: %q", got)
	}
	p.check("editions")

	// The edition: its mail in a sandboxed frame, its text part, its headers.
	p.run("open the edition", chromedp.Click(link("Open it to preview and send")), chromedp.WaitVisible(css(`iframe.preview`)))
	attrs := run1(p, "iframe", chromedp.Attributes(css(`iframe.preview`)))
	if sandbox, ok := attrs["sandbox"]; !ok || sandbox != "" {
		t.Errorf("the preview frame's sandbox is %q (present %v), want empty", sandbox, ok)
	}
	// Chromium runs a sandboxed frame in a process of its own (a target
	// of its own) or in the page's: look in both.
	if !p.frameLoaded("/admin/editions/2026-11-20/preview") {
		t.Error("the preview frame did not load the preview")
	}
	p.run("text part", chromedp.Click(chromedp.Search(`//summary[normalize-space()="Text part"]`)), chromedp.WaitVisible(css(`pre.textpart`)))
	if got := p.text(`pre.textpart`); !strings.Contains(got, "Unsubscribe") && !strings.Contains(got, "unsubscribe") {
		t.Errorf("text part: %q", got)
	}
	p.run("headers", chromedp.Click(chromedp.Search(`//summary[normalize-space()="Headers"]`)), chromedp.WaitVisible(css(`table.headers`)))
	if got := p.text(`table.headers`); !strings.Contains(got, "List-Unsubscribe") || !strings.Contains(got, "reader@example.com") {
		t.Errorf("headers: %q", got)
	}
	p.check("edition")

	// A test send.
	p.run("test send", chromedp.SendKeys(css(`#to`), "editor@example.com"), chromedp.Click(button("Send a test")),
		chromedp.WaitVisible(css(`#test-h ~ p.notice`)))
	if mail.Received("editor@example.com") != 1 {
		t.Errorf("the test address got %d messages", mail.Received("editor@example.com"))
	}

	// Send, with a confirmation naming the audience; pause; resume; follow
	// the live progress to the end.
	p.run("ask to send", chromedp.Click(link("Send to 40 active subscribers…")), chromedp.WaitVisible(css(`.confirm-question`)))
	if got := p.text(`.confirm-question`); !strings.Contains(got, "to 40 active subscribers") {
		t.Errorf("confirmation: %q", got)
	}
	p.check("send-confirm")
	p.run("send", chromedp.Click(button("Send now")), chromedp.WaitVisible(css(`#progress[data-events]`)),
		chromedp.Click(button("Pause")), chromedp.WaitVisible(button("Resume")))
	p.check("send-paused")
	p.run("resume", chromedp.Click(button("Resume")), chromedp.WaitVisible(css(`#progress[data-updated]`)))
	shot := run1(p, "progress shot", chromedp.FullScreenshot(100))
	_ = os.WriteFile(filepath.Join(shots, "send-progress-1280.png"), shot, 0o644)
	run1(p, "progress to the end", chromedp.Poll[bool](`(e => e !== null && e.textContent === "done")(document.querySelector('[data-field="state"]'))`,
		chromedp.WithPollingTimeout(60*time.Second)))
	if n := len(mail.Messages()); n != 41 {
		t.Errorf("%d messages after the send, want 40 and the test", n)
	}
	if got := p.text(`dd[data-field="sent"]`); got != "40" {
		t.Errorf("sent shows %q after the end", got)
	}
	p.check("send-done")

	// Import a CSV file: the report lists the bad line.
	csv := filepath.Join(t.TempDir(), "people.csv")
	if err := os.WriteFile(csv, []byte("email,name\nimported.one@example.com,One\nnot-an-address,Two\nimported.two@example.com,Two\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p.run("import", chromedp.Click(link("Subscribers")), chromedp.WaitVisible(css(`#file`)),
		chromedp.SetUploadFiles(css(`#file`), []string{csv}), chromedp.Click(button("Import")),
		chromedp.WaitVisible(heading("Import report")))
	if got := p.text(`dl.counts`); !strings.Contains(got, "Added\n2") || !strings.Contains(got, "Invalid lines\n1") {
		t.Errorf("import report counts: %q", got)
	}
	if got := p.text(`tbody tr`); !strings.HasPrefix(got, "3") || !strings.Contains(got, "not-an-address") {
		t.Errorf("import report's invalid line: %q", got)
	}
	p.check("import-report")

	// Find a subscriber by prefix, open them, erase them.
	p.run("search", chromedp.Click(link("Back to subscribers")), chromedp.WaitVisible(css(`#q`)), chromedp.SendKeys(css(`#q`), "imported.t"),
		chromedp.Click(button("Find")), chromedp.WaitVisible(link("imported.two@example.com")))
	p.check("subscribers")
	p.run("open a subscriber", chromedp.Click(link("imported.two@example.com")), chromedp.WaitVisible(heading("imported.two@example.com")))
	p.check("subscriber")
	p.run("ask to erase", chromedp.Click(link("Erase this subscriber…")), chromedp.WaitVisible(css(`.confirm-question`)))
	p.check("erase-confirm")
	p.run("erase", chromedp.Click(button("Erase imported.two@example.com")), chromedp.WaitVisible(heading("Subscriber erased")))
	if code := s.admin(t, "GET", "/api/subscribers/imported.two@example.com", "", nil, nil); code != 404 {
		t.Errorf("the erased subscriber is still there: %d", code)
	}

	// The reports that came back: none yet in this stack.
	p.run("open the bounces", chromedp.Click(link("Bounces")), chromedp.WaitVisible(heading("Bounces and complaints")))
	if got := p.text(`main`); !strings.Contains(got, "No report has come back.") {
		t.Errorf("the bounces page of a stack nothing came back to: %q", got)
	}
	p.check("bounces")

	// Log out: the console is closed again.
	p.run("log out", chromedp.Click(button("Log out")), chromedp.WaitVisible(heading("Logged out")))
	p.check("logged-out")
	p.run("after logout", chromedp.Navigate(s.url+"admin/"), chromedp.WaitVisible(css(`#token`)))
}
