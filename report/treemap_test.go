package report

import (
	"math"
	"testing"
)

// TestSquarify: the areas are proportional to the sizes, inside the
// rectangle, without overlap, and the example of Bruls et al. gives
// their layout's aspect ratios.
func TestSquarify(t *testing.T) {
	tests := []struct {
		name  string
		sizes []float64
		r     Rect
	}{
		{"paper", []float64{6, 6, 4, 3, 2, 2, 1}, Rect{0, 0, 6, 4}},
		{"one", []float64{5}, Rect{10, 20, 300, 100}},
		{"tall", []float64{50, 30, 10, 5, 3, 1, 1}, Rect{0, 0, 100, 700}},
		{"many equal", []float64{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, Rect{0, 0, 400, 300}},
		{"skewed", []float64{1e9, 1e3, 1, 1}, Rect{0, 0, 1200, 700}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := Squarify(tt.sizes, tt.r)
			total := sum(tt.sizes)
			for i, r := range rs {
				want := tt.sizes[i] / total * tt.r.W * tt.r.H
				if math.Abs(r.W*r.H-want) > 1e-6*tt.r.W*tt.r.H {
					t.Errorf("area %d = %g, want %g", i, r.W*r.H, want)
				}
				if r.X < tt.r.X-1e-9 || r.Y < tt.r.Y-1e-9 || r.X+r.W > tt.r.X+tt.r.W+1e-6 || r.Y+r.H > tt.r.Y+tt.r.H+1e-6 {
					t.Errorf("rect %d %+v outside %+v", i, r, tt.r)
				}
				for j := range i {
					if overlap(r, rs[j]) > 1e-6 {
						t.Errorf("rects %d and %d overlap: %+v %+v", j, i, rs[j], r)
					}
				}
			}
		})
	}
	// The paper's example: the first row holds the two 6s, side by side.
	rs := Squarify([]float64{6, 6, 4, 3, 2, 2, 1}, Rect{0, 0, 6, 4})
	if rs[0] != (Rect{0, 0, 3, 2}) || rs[1] != (Rect{0, 2, 3, 2}) {
		t.Errorf("first row %+v %+v, want the 6s as 3x2 rectangles", rs[0], rs[1])
	}
}

func overlap(a, b Rect) float64 {
	w := min(a.X+a.W, b.X+b.W) - max(a.X, b.X)
	h := min(a.Y+a.H, b.Y+b.H) - max(a.Y, b.Y)
	if w <= 0 || h <= 0 {
		return 0
	}
	return w * h
}
