package qdranttest

import (
	"strings"

	"github.com/qdrant/go-client/qdrant"
)

// matching returns the live slots whose point matches f (every live slot
// when f is nil). A match on a keyword-indexed field reads its postings
// and a range on an integer-indexed field its column, as Qdrant's payload
// indexes answer them; any other condition is checked point by point
// (matchCond) on the slots still in the running. Either way the set is
// exactly that of matchFilter, the reference the tests compare it with.
func (c *collection) matching(f *qdrant.Filter) bitset {
	set := c.live.clone()
	if f != nil {
		c.narrow(set, f)
	}
	return set
}

// narrow clears from set the slots whose point does not match f.
func (c *collection) narrow(set bitset, f *qdrant.Filter) {
	for _, cond := range f.Must {
		c.narrowCond(set, cond)
	}
	for _, cond := range f.MustNot {
		set.andNot(c.meeting(set, cond))
	}
	if len(f.Should) > 0 {
		any := make(bitset, len(set))
		for _, cond := range f.Should {
			any.or(c.meeting(set, cond))
		}
		copy(set, any)
	}
	if ms := f.MinShould; ms != nil {
		counts := make(map[int32]uint64)
		for _, cond := range ms.Conditions {
			c.meeting(set, cond).each(func(i int32) { counts[i]++ })
		}
		set.keep(func(i int32) bool { return counts[i] >= ms.MinCount })
	}
}

// meeting returns the slots of set whose point meets cond.
func (c *collection) meeting(set bitset, cond *qdrant.Condition) bitset {
	hit := set.clone()
	c.narrowCond(hit, cond)
	return hit
}

// narrowCond clears from set the slots whose point does not meet cond.
func (c *collection) narrowCond(set bitset, cond *qdrant.Condition) {
	switch o := cond.GetConditionOneOf().(type) {
	case *qdrant.Condition_Filter:
		c.narrow(set, o.Filter)
		return
	case *qdrant.Condition_HasId:
		ids := make(bitset, len(set))
		for _, id := range o.HasId.HasId {
			if p, ok := c.points[idKey(id)]; ok {
				ids.set(p.slot)
			}
		}
		set.and(ids)
		return
	case *qdrant.Condition_Field:
		fc := o.Field
		if ix, ok := c.kw[fc.Key]; ok {
			if values, ok := matchedKeywords(fc.Match); ok {
				hit := make(bitset, len(set))
				for _, v := range values {
					for _, i := range ix[v] {
						if set.has(i) {
							hit.set(i)
						}
					}
				}
				copy(set, hit)
				return
			}
		}
		if col, ok := c.nums[fc.Key]; ok && fc.Match == nil && fc.Range != nil {
			in := func(x float64) bool { return inRange(fc.Range, x) }
			set.keep(func(i int32) bool { return col.any(i, in) })
			return
		}
	}
	set.keep(func(i int32) bool { return matchCond(c.slots[i], cond) })
}

// matchedKeywords returns the values a keyword or keywords match accepts.
func matchedKeywords(m *qdrant.Match) ([]string, bool) {
	switch mv := m.GetMatchValue().(type) {
	case *qdrant.Match_Keyword:
		return []string{mv.Keyword}, true
	case *qdrant.Match_Keywords:
		return mv.Keywords.Strings, true
	}
	return nil, false
}

// matchFilter reports whether p matches f, condition by condition: the
// reference semantics that matching follows with indexes.
func matchFilter(p *point, f *qdrant.Filter) bool {
	for _, c := range f.Must {
		if !matchCond(p, c) {
			return false
		}
	}
	for _, c := range f.MustNot {
		if matchCond(p, c) {
			return false
		}
	}
	if len(f.Should) > 0 && countMet(p, f.Should) == 0 {
		return false
	}
	if ms := f.MinShould; ms != nil && countMet(p, ms.Conditions) < ms.MinCount {
		return false
	}
	return true
}

func countMet(p *point, conds []*qdrant.Condition) uint64 {
	n := uint64(0)
	for _, c := range conds {
		if matchCond(p, c) {
			n++
		}
	}
	return n
}

func matchCond(p *point, c *qdrant.Condition) bool {
	switch o := c.GetConditionOneOf().(type) {
	case *qdrant.Condition_Filter:
		return matchFilter(p, o.Filter)
	case *qdrant.Condition_HasId:
		for _, id := range o.HasId.HasId {
			if idKey(id) == p.key {
				return true
			}
		}
		return false
	case *qdrant.Condition_IsEmpty:
		return !anyValue(lookup(p.payload, o.IsEmpty.Key), func(v *qdrant.Value) bool { return !isNull(v) })
	case *qdrant.Condition_IsNull:
		return anyValue(lookup(p.payload, o.IsNull.Key), isNull)
	case *qdrant.Condition_Field:
		return matchField(lookup(p.payload, o.Field.Key), o.Field)
	}
	return false
}

func isNull(v *qdrant.Value) bool {
	_, null := v.GetKind().(*qdrant.Value_NullValue)
	return null
}

func matchField(vs []*qdrant.Value, fc *qdrant.FieldCondition) bool {
	if m := fc.Match; m != nil {
		switch mv := m.GetMatchValue().(type) {
		case *qdrant.Match_Keyword:
			return anyString(vs, func(s string) bool { return s == mv.Keyword })
		case *qdrant.Match_Keywords:
			return anyString(vs, func(s string) bool { return contains(mv.Keywords.Strings, s) })
		case *qdrant.Match_Integer:
			return anyInteger(vs, func(i int64) bool { return i == mv.Integer })
		case *qdrant.Match_Integers:
			return anyInteger(vs, func(i int64) bool { return contains(mv.Integers.Integers, i) })
		case *qdrant.Match_Boolean:
			return anyValue(vs, func(v *qdrant.Value) bool {
				b, ok := v.GetKind().(*qdrant.Value_BoolValue)
				return ok && b.BoolValue == mv.Boolean
			})
		case *qdrant.Match_ExceptKeywords:
			// Qdrant: true when the field is absent, or any value is
			// none of the keywords.
			return len(vs) == 0 || anyValue(vs, func(v *qdrant.Value) bool {
				s, ok := v.GetKind().(*qdrant.Value_StringValue)
				return !ok || !contains(mv.ExceptKeywords.Strings, s.StringValue)
			})
		}
		return false
	}
	if r := fc.Range; r != nil {
		return anyValue(vs, func(v *qdrant.Value) bool {
			x, ok := number(v)
			return ok && inRange(r, x)
		})
	}
	return false
}

func inRange(r *qdrant.Range, x float64) bool {
	return (r.Lt == nil || x < *r.Lt) && (r.Lte == nil || x <= *r.Lte) && (r.Gt == nil || x > *r.Gt) && (r.Gte == nil || x >= *r.Gte)
}

func anyValue(vs []*qdrant.Value, f func(*qdrant.Value) bool) bool {
	for _, v := range vs {
		if f(v) {
			return true
		}
	}
	return false
}

func anyString(vs []*qdrant.Value, f func(string) bool) bool {
	return anyValue(vs, func(v *qdrant.Value) bool {
		s, ok := v.GetKind().(*qdrant.Value_StringValue)
		return ok && f(s.StringValue)
	})
}

func anyInteger(vs []*qdrant.Value, f func(int64) bool) bool {
	return anyValue(vs, func(v *qdrant.Value) bool {
		i, ok := v.GetKind().(*qdrant.Value_IntegerValue)
		return ok && f(i.IntegerValue)
	})
}

// lookup returns the values at a dotted key, arrays flattened: Qdrant
// matches a condition on an array when any element matches.
func lookup(p map[string]*qdrant.Value, key string) []*qdrant.Value {
	if !strings.Contains(key, ".") {
		if v, ok := p[key]; ok {
			return flatten([]*qdrant.Value{v})
		}
		return nil
	}
	cur := []*qdrant.Value{qdrant.NewValueFromFields(p)}
	for _, part := range strings.Split(key, ".") {
		var next []*qdrant.Value
		for _, v := range cur {
			if st := v.GetStructValue(); st != nil {
				if x, ok := st.Fields[part]; ok {
					next = append(next, x)
				}
			}
		}
		cur = next
	}
	return flatten(cur)
}

func flatten(cur []*qdrant.Value) []*qdrant.Value {
	if len(cur) == 1 && cur[0].GetListValue() == nil {
		return cur
	}
	var out []*qdrant.Value
	for _, v := range cur {
		if l := v.GetListValue(); l != nil {
			out = append(out, l.Values...)
		} else {
			out = append(out, v)
		}
	}
	return out
}
