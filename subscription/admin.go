package subscription

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/broadsheet-news/broadsheet/digest"
)

// AddRequest is a subscriber added by an admin.
type AddRequest struct {
	Email, Name string
	// Status is pending (a confirmation mail is sent) or active (the admin
	// vouches for the consent, recorded in Consent).
	Status  digest.SubscriberStatus
	Consent string
}

// AddResult says what Add did.
type AddResult int

// The results of Add.
const (
	AddExisting    AddResult = iota // known already: returned unchanged
	AddCreated                      // a new subscriber
	AddReactivated                  // an unsubscribed or bounced address made active
)

// String is how the CLI and the API say it: "already there", "added",
// "reactivated".
func (r AddResult) String() string {
	switch r {
	case AddCreated:
		return "added"
	case AddReactivated:
		return "reactivated"
	}
	return "already there"
}

// Add adds a subscriber for an admin. An erased address is refused
// (digest.ErrSuppressed). A known one is returned unchanged, unless it
// unsubscribed or bounced and the admin adds it as active: then it is
// active again, with the admin's consent record (AddReactivated).
func (s *Service) Add(ctx context.Context, req AddRequest) (digest.Subscriber, AddResult, error) {
	email, err := checkEmail(req.Email)
	if err != nil {
		return digest.Subscriber{}, AddExisting, err
	}
	name, err := checkName(req.Name)
	if err != nil {
		return digest.Subscriber{}, AddExisting, err
	}
	if req.Status == "" {
		req.Status = digest.Pending
	}
	if req.Status != digest.Pending && req.Status != digest.Active {
		return digest.Subscriber{}, AddExisting, &FieldError{Field: "status", Message: `must be "pending" or "active"`}
	}
	now := s.now().UTC()
	consent := digest.Consent{Source: "admin", SubscribedAt: now, Text: truncate(strings.TrimSpace(req.Consent), 200)}
	if req.Status == digest.Active {
		consent.ConfirmedAt = now
	}
	sub, created, err := s.store.AddSubscriber(ctx, digest.Subscriber{
		Email: email, Name: name, Status: req.Status, Format: digest.FormatHTML, Consent: consent,
	}, false)
	if err != nil {
		return digest.Subscriber{}, AddExisting, fmt.Errorf("subscription: add: %w", err)
	}
	if !created {
		if req.Status != digest.Active || (sub.Status != digest.Unsubscribed && sub.Status != digest.Bounced) {
			return sub, AddExisting, nil
		}
		reactivated := false
		sub, err = s.store.UpdateSubscriber(ctx, sub.ID, func(x *digest.Subscriber) error {
			reactivated = false
			if x.Status != digest.Unsubscribed && x.Status != digest.Bounced {
				return digest.ErrUnchanged
			}
			x.Status, x.Consent, reactivated = digest.Active, consent, true
			if name != "" {
				x.Name = name
			}
			return nil
		})
		if err != nil {
			return digest.Subscriber{}, AddExisting, fmt.Errorf("subscription: add: %w", err)
		}
		if !reactivated {
			return sub, AddExisting, nil
		}
		s.logger.Info("Subscriber reactivated by an admin", slog.Int64("subscriber", sub.ID))
		return sub, AddReactivated, nil
	}
	if sub.Status == digest.Pending {
		if err := s.sendConfirmation(ctx, sub.ID, false); err != nil {
			return sub, AddCreated, err
		}
		sub, err = s.store.Subscriber(ctx, sub.ID)
	}
	return sub, AddCreated, err
}

// Get returns the subscriber with this email.
func (s *Service) Get(ctx context.Context, email string) (digest.Subscriber, error) {
	e, err := checkEmail(email)
	if err != nil {
		return digest.Subscriber{}, err
	}
	return s.store.SubscriberByEmail(ctx, e)
}

// Forget erases a subscriber (the right to be forgotten), keeping only a
// hash of the address so imports cannot add it again.
func (s *Service) Forget(ctx context.Context, email string) error {
	e, err := checkEmail(email)
	if err != nil {
		return err
	}
	return s.store.ForgetSubscriber(ctx, e)
}

// List returns a page of subscribers; see store.Subscribers.
func (s *Service) List(ctx context.Context, status digest.SubscriberStatus, cursor int64, limit int) ([]digest.Subscriber, int64, error) {
	if status != "" && !status.Valid() {
		return nil, 0, &FieldError{Field: "status", Message: fmt.Sprintf("%q is not one of pending, active, unsubscribed, bounced, complained", status)}
	}
	page, next, err := s.store.Subscribers(ctx, status, cursor, limit)
	if err != nil {
		return nil, 0, err
	}
	if err := s.store.FillConsent(ctx, page); err != nil {
		return nil, 0, err
	}
	return page, next, nil
}

// Counts returns the number of subscribers by status.
func (s *Service) Counts(ctx context.Context) (map[digest.SubscriberStatus]int64, error) {
	return s.store.CountSubscribers(ctx)
}

// ImportReport is what an import did.
type ImportReport struct {
	Added    int `json:"added"`
	Existing int `json:"existing"`
	// InvalidCount counts every invalid line; Invalid lists the first
	// thousand, with their line numbers.
	InvalidCount int           `json:"invalid_count"`
	Invalid      []InvalidLine `json:"invalid"`
	// Suppressed counts erased addresses left out.
	Suppressed int `json:"suppressed"`
}

// InvalidLine is a CSV line that was not imported, and why.
type InvalidLine struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

// maxInvalidReported bounds the invalid lines listed in a report (all are
// counted).
const maxInvalidReported = 1000

// importBatch subscribers go to Redis in one pipelined round trip.
const importBatch = 1000

// Import reads CSV — a header row naming email, name and optionally status
// (pending or active; default active), in any order — and adds every valid
// new address, streaming: memory holds one batch, whatever the file's
// size. Imported subscribers are recorded with consent source "import".
// A file that is not CSV with an email column is a FieldError.
func (s *Service) Import(ctx context.Context, r io.Reader, consent string) (ImportReport, error) {
	rep := ImportReport{Invalid: []InvalidLine{}}
	cr := csv.NewReader(newRecordLimiter(r))
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return rep, &FieldError{Field: "file", Message: "is empty: it needs a header row such as email,name,status"}
	}
	if err != nil {
		return rep, &FieldError{Field: "file", Message: "is not CSV: " + err.Error()}
	}
	col := map[string]int{"email": -1, "name": -1, "status": -1}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\uFEFF")))
		if _, ok := col[h]; ok {
			col[h] = i
		}
	}
	if col["email"] < 0 {
		return rep, &FieldError{Field: "file", Message: "has no email column in its header row"}
	}
	now := s.now().UTC()
	batch := make([]digest.Subscriber, 0, importBatch)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		out, err := s.store.ImportSubscribers(ctx, batch)
		if err != nil {
			return fmt.Errorf("subscription: import: %w", err)
		}
		for _, o := range out {
			switch o {
			case digest.Added:
				rep.Added++
			case digest.AlreadyKnown:
				rep.Existing++
			case digest.Suppressed:
				rep.Suppressed++
			}
		}
		batch = batch[:0]
		return nil
	}
	invalid := func(line int, reason string) {
		rep.InvalidCount++
		if len(rep.Invalid) < maxInvalidReported {
			rep.Invalid = append(rep.Invalid, InvalidLine{Line: line, Reason: reason})
		}
	}
	field := func(rec []string, name string) string {
		if i := col[name]; i >= 0 && i < len(rec) {
			return unescapeCell(rec[i])
		}
		return ""
	}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				invalid(pe.StartLine, pe.Err.Error())
				continue
			}
			return rep, fmt.Errorf("subscription: import: read: %w", err)
		}
		line, _ := cr.FieldPos(0) // only valid after a successful Read
		if len(rec) == 1 && rec[0] == overlongMarker {
			invalid(line, fmt.Sprintf("the line is longer than %d KiB", maxRecord>>10))
			continue
		}
		if long := slices.IndexFunc(rec, func(c string) bool { return len(c) > MaxCell }); long >= 0 {
			invalid(line, fmt.Sprintf("cell %d is longer than %d bytes", long+1, MaxCell))
			continue
		}
		email, err := checkEmail(field(rec, "email"))
		if err != nil {
			invalid(line, err.Error())
			continue
		}
		name, err := checkName(field(rec, "name"))
		if err != nil {
			invalid(line, err.Error())
			continue
		}
		status := digest.SubscriberStatus(strings.ToLower(strings.TrimSpace(field(rec, "status"))))
		if status == "" {
			status = digest.Active
		}
		if status != digest.Active && status != digest.Pending {
			invalid(line, fmt.Sprintf("status: %q is not pending or active", status))
			continue
		}
		sub := digest.Subscriber{Email: email, Name: name, Status: status, Format: digest.FormatHTML,
			Consent: digest.Consent{Source: "import", SubscribedAt: now, Text: consent}}
		if status == digest.Active {
			sub.Consent.ConfirmedAt = now
		}
		batch = append(batch, sub)
		if len(batch) == importBatch {
			if err := flush(); err != nil {
				return rep, err
			}
		}
		if err := ctx.Err(); err != nil {
			return rep, err
		}
	}
	return rep, flush()
}

// Export writes every subscriber as CSV (email,name,status,format,
// subscribed_at,confirmed_at), streaming in batches.
func (s *Service) Export(ctx context.Context, w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"email", "name", "status", "format", "subscribed_at", "confirmed_at"}); err != nil {
		return err
	}
	cursor := int64(0)
	for {
		page, next, err := s.store.Subscribers(ctx, "", cursor, 1000)
		if err != nil {
			return fmt.Errorf("subscription: export: %w", err)
		}
		if err := s.store.FillConsent(ctx, page); err != nil {
			return fmt.Errorf("subscription: export: %w", err)
		}
		for _, full := range page {
			if err := cw.Write(csvSafe(full.Email, full.Name, string(full.Status), string(full.Format),
				timeOrEmpty(full.Consent.SubscribedAt), timeOrEmpty(full.Consent.ConfirmedAt))); err != nil {
				return err
			}
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return err
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

// csvSafe defuses every cell a spreadsheet would run as a formula (an
// address may start with "=" too: the form accepts what RFC 5322 does) by
// putting a ' before it — and before a cell that starts with ' itself, so
// that Import, which removes that ', gives back every cell as it was.
func csvSafe(cells ...string) []string {
	for i, s := range cells {
		if s != "" && strings.IndexByte(formulaStarts, s[0]) >= 0 {
			cells[i] = "'" + s
		}
	}
	return cells
}

func timeOrEmpty(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
