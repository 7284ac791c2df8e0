package templates

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io"
)

//go:embed admin/*.html admin/console.css admin/console.js
var consoleFS embed.FS

// Console page names accepted by Console.Render.
const (
	ConsoleLogin       = "login"
	ConsoleMessage     = "message"
	ConsoleConfirm     = "confirm"
	ConsoleDashboard   = "dashboard"
	ConsoleEditions    = "editions"
	ConsoleEdition     = "edition"
	ConsoleSubscribers = "subscribers"
	ConsoleSubscriber  = "subscriber"
	ConsoleImport      = "import"
	ConsoleBounces     = "bounces"
)

var consolePages = []string{ConsoleLogin, ConsoleMessage, ConsoleConfirm, ConsoleDashboard, ConsoleEditions,
	ConsoleEdition, ConsoleSubscribers, ConsoleSubscriber, ConsoleImport, ConsoleBounces}

// ConsolePage is the data every admin console page receives; Data holds
// the page's own (a struct of web's).
type ConsolePage struct {
	SiteTitle string
	// Base is the console's root path, e.g. "/admin/".
	Base string
	// Section marks the current entry of the navigation.
	Section string
	Title   string
	// CSRF is the session's form token; "" when logged out (no navigation).
	CSRF string
	// Notice and Error are shown at the top of the page.
	Notice, Error string
	// Refresh, when > 0, reloads the page every Refresh seconds if
	// JavaScript is off (a send in progress).
	Refresh int
	// Script loads console.js (live progress).
	Script bool
	Data   any
}

// Console is the admin console's parsed templates, safe for concurrent use.
type Console struct {
	pages map[string]*template.Template
}

// NewConsole parses the console's embedded templates; a broken one fails
// here, at start.
func NewConsole() (*Console, error) {
	c := &Console{pages: make(map[string]*template.Template, len(consolePages))}
	base, err := template.New("layout.html").ParseFS(consoleFS, "admin/layout.html", "admin/tables.html")
	if err != nil {
		return nil, fmt.Errorf("templates: console: %w", err)
	}
	for _, name := range consolePages {
		clone, err := base.Clone()
		if err != nil {
			return nil, fmt.Errorf("templates: console: %w", err)
		}
		if c.pages[name], err = clone.ParseFS(consoleFS, "admin/"+name+".html"); err != nil {
			return nil, fmt.Errorf("templates: console: %w", err)
		}
	}
	return c, nil
}

// Render writes the named console page, rendered in full first so that a
// template error never leaves half a page.
func (c *Console) Render(w io.Writer, name string, data ConsolePage) error {
	t, ok := c.pages[name]
	if !ok {
		return fmt.Errorf("templates: no console page %q", name)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", data); err != nil {
		return fmt.Errorf("templates: render console %s: %w", name, err)
	}
	_, err := buf.WriteTo(w)
	return err
}

// ConsoleAsset returns the console's stylesheet ("console.css") or script
// ("console.js").
func ConsoleAsset(name string) ([]byte, bool) {
	if name != "console.css" && name != "console.js" {
		return nil, false
	}
	b, err := consoleFS.ReadFile("admin/" + name)
	return b, err == nil
}
