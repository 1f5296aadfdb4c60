package ingest

import (
	"errors"
	"math"

	"github.com/ledongthuc/pdf"
)

// pdfGlyph is one glyph a page shows, in page space (points, y up).
type pdfGlyph struct {
	s    string
	x, y float64 // origin on the baseline
	w    float64 // advance along the baseline
	size float64 // em height
}

// pdfMatrix is a PDF transformation matrix [a b c d e f].
type pdfMatrix [6]float64

var pdfIdentity = pdfMatrix{1, 0, 0, 1, 0, 0}

// mul is m then n: the matrix product m × n.
func (m pdfMatrix) mul(n pdfMatrix) pdfMatrix {
	return pdfMatrix{
		m[0]*n[0] + m[1]*n[2], m[0]*n[1] + m[1]*n[3],
		m[2]*n[0] + m[3]*n[2], m[2]*n[1] + m[3]*n[3],
		m[4]*n[0] + m[5]*n[2] + n[4], m[4]*n[1] + m[5]*n[3] + n[5],
	}
}

// pdfGState is the part of the graphics state text extraction follows.
type pdfGState struct {
	ctm, tm, tlm          pdfMatrix
	tc, tw, th, tl, trise float64
	tfs                   float64
	font                  *pdfFont
}

// pdfPageText runs a page's content streams (and the form XObjects they
// draw) and collects the glyphs they show, positioned by the text state
// and matrices of PDF 32000-1 section 9.4 with each font's own widths.
type pdfPageText struct {
	fonts     *pdfFonts
	page      int
	content   int64 // unpacked content bytes of the page, forms included
	maxGlyphs int
	glyphs    []pdfGlyph
	err       error
}

// pdfStop ends a content stream's interpretation early.
type pdfStop struct{}

// pdfOperands is the operand count of each operator run here; extra
// operands before them are ignored, operators with too few skipped.
var pdfOperands = map[string]int{
	"cm": 6, "Tm": 6, "Td": 2, "TD": 2, "Tc": 1, "Tw": 1, "Tz": 1, "TL": 1, "Ts": 1,
	"Tf": 2, "Tj": 1, "'": 1, "TJ": 1, "\"": 3, "Do": 1,
}

const (
	pdfMaxFormDepth = 4   // forms drawn inside forms
	pdfMaxGStack    = 512 // q without Q
)

// run interprets one content stream (or array of streams) with resources.
func (t *pdfPageText) run(content, resources pdf.Value, g pdfGState, depth int) {
	var stack []pdfGState
	fontsOf := resources.Key("Font")
	byName := map[string]*pdfFont{}
	defer func() {
		// A stream the library cannot read or parse loses its rest, not
		// the document; an aborted parse goes on aborting.
		if r := recover(); r != nil {
			if e, ok := r.(error); ok && errors.Is(e, errAborted) {
				panic(r)
			}
		}
	}()
	num := func(v pdf.Value) float64 {
		f := v.Float64()
		if !finite(f) {
			return 0
		}
		return f
	}
	matrix := func(args []pdf.Value) pdfMatrix {
		var m pdfMatrix
		for i := range m {
			m[i] = num(args[i])
		}
		return m
	}
	show := func(s string) {
		f := g.font
		if f == nil {
			return
		}
		for len(s) > 0 {
			code, n := f.next(s)
			raw := s[:n]
			s = s[n:]
			w0 := f.width(code, n)
			m := g.tm.mul(g.ctm)
			if text := f.text(code, raw); text != "" {
				if len(t.glyphs) >= t.maxGlyphs {
					t.err = tooLarge(t.fonts.name, "max_page_content_bytes", "page %d shows more than %d characters", t.page, t.maxGlyphs)
					panic(pdfStop{})
				}
				t.glyphs = append(t.glyphs, pdfGlyph{
					s:    text,
					x:    g.trise*m[2] + m[4],
					y:    g.trise*m[3] + m[5],
					w:    w0 * g.tfs * g.th * math.Hypot(m[0], m[1]),
					size: math.Abs(g.tfs) * f.vscale * math.Hypot(m[2], m[3]),
				})
			}
			tx := w0*g.tfs + g.tc
			if n == 1 && code == ' ' {
				tx += g.tw
			}
			g.tm = pdfMatrix{1, 0, 0, 1, tx * g.th, 0}.mul(g.tm)
		}
	}
	nextLine := func(tx, ty float64) {
		g.tlm = pdfMatrix{1, 0, 0, 1, tx, ty}.mul(g.tlm)
		g.tm = g.tlm
	}
	pdf.Interpret(content, func(stk *pdf.Stack, op string) {
		args := make([]pdf.Value, stk.Len())
		for i := len(args) - 1; i >= 0; i-- {
			args[i] = stk.Pop()
		}
		want := pdfOperands[op]
		if len(args) < want {
			return
		}
		args = args[len(args)-want:]
		switch op {
		case "q":
			if len(stack) < pdfMaxGStack {
				stack = append(stack, g)
			}
		case "Q":
			if n := len(stack); n > 0 {
				g, stack = stack[n-1], stack[:n-1]
			}
		case "cm":
			g.ctm = matrix(args).mul(g.ctm)
		case "BT":
			g.tm, g.tlm = pdfIdentity, pdfIdentity
		case "Tc":
			g.tc = num(args[0])
		case "Tw":
			g.tw = num(args[0])
		case "Tz":
			g.th = num(args[0]) / 100
		case "TL":
			g.tl = num(args[0])
		case "Ts":
			g.trise = num(args[0])
		case "Tf":
			g.tfs = num(args[1])
			name := args[0].Name()
			f, ok := byName[name]
			if !ok {
				if fv := fontsOf.Key(name); fv.Kind() == pdf.Dict {
					var err error
					if f, err = t.fonts.load(fv); err != nil {
						t.err = err
						panic(pdfStop{})
					}
				}
				byName[name] = f
			}
			g.font = f
		case "Td":
			nextLine(num(args[0]), num(args[1]))
		case "TD":
			g.tl = -num(args[1])
			nextLine(num(args[0]), num(args[1]))
		case "Tm":
			g.tm = matrix(args)
			g.tlm = g.tm
		case "T*":
			nextLine(0, -g.tl)
		case "Tj":
			show(args[0].RawString())
		case "'":
			nextLine(0, -g.tl)
			show(args[0].RawString())
		case "\"":
			g.tw, g.tc = num(args[0]), num(args[1])
			nextLine(0, -g.tl)
			show(args[2].RawString())
		case "TJ":
			a := args[0]
			for i := 0; i < a.Len(); i++ {
				switch x := a.Index(i); x.Kind() {
				case pdf.String:
					show(x.RawString())
				case pdf.Integer, pdf.Real:
					g.tm = pdfMatrix{1, 0, 0, 1, -num(x) / 1000 * g.tfs * g.th, 0}.mul(g.tm)
				}
			}
		case "Do":
			if depth >= pdfMaxFormDepth {
				return
			}
			x := resources.Key("XObject").Key(args[0].Name())
			if x.Kind() != pdf.Stream || x.Key("Subtype").Name() != "Form" {
				return
			}
			if err := t.count(x); err != nil {
				t.err = err
				panic(pdfStop{})
			}
			fg := g
			if m := x.Key("Matrix"); m.Len() == 6 {
				var fm pdfMatrix
				for i := range fm {
					fm[i] = num(m.Index(i))
				}
				fg.ctm = fm.mul(g.ctm)
			}
			res := x.Key("Resources")
			if res.Kind() != pdf.Dict {
				res = resources
			}
			t.run(x, res, fg, depth+1)
			if t.err != nil {
				panic(pdfStop{})
			}
		}
	})
}

// count adds a form's unpacked bytes to the page's, within the limits.
func (t *pdfPageText) count(x pdf.Value) error {
	lim := t.fonts.p.lim
	data, err := readPDFStream(x, lim.MaxPageContentBytes-t.content)
	t.content += int64(len(data))
	if errors.Is(err, errStreamTooLarge) || t.content > lim.MaxPageContentBytes {
		return tooLarge(t.fonts.name, "max_page_content_bytes", "page %d unpacks to more than %d bytes", t.page, lim.MaxPageContentBytes)
	}
	if !t.fonts.left.take(int64(len(data))) {
		return tooLarge(t.fonts.name, "max_decompressed_bytes", "unpacks to more than %d bytes", lim.MaxDecompressedBytes)
	}
	return nil
}
