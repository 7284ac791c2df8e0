package templates

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func newConsole(t *testing.T) *Console {
	t.Helper()
	c, err := NewConsole()
	if err != nil {
		t.Fatalf("NewConsole: %v", err)
	}
	return c
}

// TestConsoleEveryPageParses: each page name web may ask for is there.
func TestConsoleEveryPageParses(t *testing.T) {
	c := newConsole(t)
	for _, name := range []string{ConsoleLogin, ConsoleMessage, ConsoleConfirm, ConsoleDashboard, ConsoleEditions,
		ConsoleEdition, ConsoleSubscribers, ConsoleSubscriber, ConsoleImport, ConsoleBounces} {
		// Data of no page's type: the page may fail on it, but it exists.
		err := c.Render(new(bytes.Buffer), name, ConsolePage{Title: "T"})
		if err != nil && strings.Contains(err.Error(), "no console page") {
			t.Errorf("page %q: %v", name, err)
		}
	}
}

type consoleMessage struct{ Text, Link, LinkText string }

// TestConsoleRender: the layout around a page shows the title, notices
// and errors escaped; navigation and the logout form only with a session
// (CSRF); the no-script refresh only when asked; the script only when
// asked.
func TestConsoleRender(t *testing.T) {
	c := newConsole(t)
	page := ConsolePage{SiteTitle: "Daily <Brief>", Base: "/admin/", Title: "Sent", Notice: "Done & dusted",
		Error: "<b>careful</b>", Data: consoleMessage{Text: "42 mails <sent>", Link: "/admin/editions", LinkText: "Editions"}}
	var out bytes.Buffer
	if err := c.Render(&out, ConsoleMessage, page); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		"<title>Sent · Daily &lt;Brief&gt; console</title>",
		`<p class="notice" role="status">Done &amp; dusted</p>`,
		`<p class="error" role="alert">&lt;b&gt;careful&lt;/b&gt;</p>`,
		"<h1>Sent</h1>", "<p>42 mails &lt;sent&gt;</p>", `<a href="/admin/editions">Editions</a>`,
		`href="/admin/static/console.css"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the page lacks %s:\n%s", want, got)
		}
	}
	for _, unwanted := range []string{"<nav", "logout", "http-equiv=\"refresh\"", "console.js"} {
		if strings.Contains(got, unwanted) {
			t.Errorf("a logged-out page without refresh or script has %s", unwanted)
		}
	}

	page.CSRF, page.Section, page.Refresh, page.Script = "tok-123", ConsoleEditions, 5, true
	out.Reset()
	if err := c.Render(&out, ConsoleMessage, page); err != nil {
		t.Fatal(err)
	}
	got = out.String()
	for _, want := range []string{
		`<a href="/admin/editions" aria-current="page">Editions</a>`,
		`<form class="logout" method="post" action="/admin/logout">`,
		`<input type="hidden" name="csrf" value="tok-123">`,
		`<meta http-equiv="refresh" content="5">`,
		`<script src="/admin/static/console.js" defer></script>`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("a logged-in page with refresh and script lacks %s:\n%s", want, got)
		}
	}
	if n := strings.Count(got, `aria-current="page"`); n != 1 {
		t.Errorf("%d navigation entries marked current, want 1", n)
	}
}

// TestConsoleRenderAllOrNothing: an unknown page, or a page whose
// template fails on its data, is an error and writes nothing.
func TestConsoleRenderAllOrNothing(t *testing.T) {
	c := newConsole(t)
	var out bytes.Buffer
	if err := c.Render(&out, "nosuchpage", ConsolePage{}); err == nil || !strings.Contains(err.Error(), `"nosuchpage"`) {
		t.Errorf("an unknown page: %v", err)
	}
	// The login page reads .Data.Off, which a string has not: the
	// template fails after the layout's head was rendered.
	if err := c.Render(&out, ConsoleLogin, ConsolePage{Title: "Log in", Data: "not the login page's data"}); err == nil ||
		!strings.Contains(err.Error(), "render console login") {
		t.Errorf("a page failing on its data: %v", err)
	}
	if out.Len() != 0 {
		t.Errorf("a failed render wrote %d bytes: %q", out.Len(), out.String())
	}
}

// TestConsoleAsset: the stylesheet and the script are served as they are
// in admin/; nothing else there is (the templates are not assets).
func TestConsoleAsset(t *testing.T) {
	for _, name := range []string{"console.css", "console.js"} {
		want, err := os.ReadFile("admin/" + name)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := ConsoleAsset(name)
		if !ok || !bytes.Equal(got, want) || len(got) == 0 {
			t.Errorf("ConsoleAsset(%q) = %d bytes, %v; want the %d bytes of admin/%s", name, len(got), ok, len(want), name)
		}
	}
	for _, name := range []string{"layout.html", "login.html", "", "../templates.go", "admin/console.css", "console.CSS"} {
		if b, ok := ConsoleAsset(name); ok || b != nil {
			t.Errorf("ConsoleAsset(%q) = %d bytes, %v; want nothing", name, len(b), ok)
		}
	}
}
