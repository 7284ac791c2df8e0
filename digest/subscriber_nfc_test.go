package digest

import "testing"

// TestNormalizeEmailNFC: two spellings of one address (é as one
// character, or e and a combining accent) are one subscriber.
func TestNormalizeEmailNFC(t *testing.T) {
	composed, err := NormalizeEmail("Ren\u00e9@example.com")
	if err != nil {
		t.Fatal(err)
	}
	decomposed, err := NormalizeEmail("Rene\u0301@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if composed != decomposed || composed != "ren\u00e9@example.com" {
		t.Errorf("NormalizeEmail: %q and %q, want both %q", composed, decomposed, "ren\u00e9@example.com")
	}
}
