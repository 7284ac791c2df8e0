package digest

import "testing"

// BenchmarkParseTextSample measures reading the bundled sample front page.
func BenchmarkParseTextSample(b *testing.B) {
	b.SetBytes(int64(len(sample)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseText(Sample()); err != nil {
			b.Fatal(err)
		}
	}
}
