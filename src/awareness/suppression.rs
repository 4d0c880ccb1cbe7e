//! Statistical disclosure control for the awareness tables: no sequence of published figures
//! may single out fewer than `threshold` entities.
//!
//! The method, and why it holds by construction (docs/ARCHITECTURE.md, "Awareness disclosure
//! control"):
//!
//! 1. **A fixed grid.** Figures under control are kept per *grid unit* (an ISO week that has
//!    ended for the awareness endpoint, the quarter for the Art. 23(9) summary). A period is a
//!    whole number of units, and every figure of a period is the **sum of the published
//!    figures of its units**. So any answer is a fixed linear function of the units' published
//!    cells: shifting, overlapping or differencing periods yields nothing but published cells
//!    of single units, which this module has already judged safe.
//! 2. **A data-independent set of groups.** Each unit's table lists every key of the
//!    grouping's domain (the caller's sectors, every threat type, every stage, …), empty or
//!    not, and a withheld cell is withheld whatever made it so. Which groups appear therefore
//!    says nothing about which had incidents.
//! 3. **Withheld cells that stay withheld whatever is subtracted.** A cell is withheld when it
//!    stands for fewer than `threshold` distinct entities. The totals of a unit are the same in
//!    every grouping, and another grouping may publish them all; so what a caller can recover
//!    from one table is the *union* of its withheld cells (total − published). That union must
//!    itself stand for at least `threshold` distinct entities (counted exactly, as sets, not
//!    summed), else the smallest published cell is withheld too, until it does or nothing is
//!    published. Cells of different groupings split a unit along different dimensions, so one
//!    grouping's withheld union cannot be split further by another's figures.
//!
//! Pure: sets of entities in, the cells to withhold out; tested as tables.

/// The summed figures of one cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Figures {
    pub incidents: u64,
    pub significant: u64,
    pub late: u64,
    pub near_misses: u64,
    pub cyber_threats: u64,
    pub cross_border: u64,
}

impl Figures {
    /// Adds `other` in place, saturating (counts of a register never come near `u64::MAX`).
    pub fn add(&mut self, other: &Figures) {
        self.incidents = self.incidents.saturating_add(other.incidents);
        self.significant = self.significant.saturating_add(other.significant);
        self.late = self.late.saturating_add(other.late);
        self.near_misses = self.near_misses.saturating_add(other.near_misses);
        self.cyber_threats = self.cyber_threats.saturating_add(other.cyber_threats);
        self.cross_border = self.cross_border.saturating_add(other.cross_border);
    }

    /// Notifications of every kind: incidents, near misses and cyber threats.
    pub fn notifications(&self) -> u64 {
        self.incidents
            .saturating_add(self.near_misses)
            .saturating_add(self.cyber_threats)
    }
}

/// A set of entities, by the small number each entity is given (`awareness_entity_numbers`):
/// a bitmap, so that the distinct entities of many cells are counted exactly and cheaply.
#[derive(Clone, Default)]
pub struct EntitySet {
    words: Vec<u64>,
}

impl PartialEq for EntitySet {
    fn eq(&self, other: &Self) -> bool {
        let trim = |w: &[u64]| w.len() - w.iter().rev().take_while(|x| **x == 0).count();
        self.words[..trim(&self.words)] == other.words[..trim(&other.words)]
    }
}

impl Eq for EntitySet {}

impl std::fmt::Debug for EntitySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl EntitySet {
    /// Encodings of [`EntitySet::encode`]: the numbers as a list, or the bitmap's words.
    const LIST: u8 = 0;
    const BITMAP: u8 = 1;

    pub fn insert(&mut self, number: u32) {
        let (word, bit) = ((number / 64) as usize, number % 64);
        if self.words.len() <= word {
            self.words.resize(word.saturating_add(1), 0);
        }
        self.words[word] |= 1u64 << bit;
    }

    pub fn union_with(&mut self, other: &EntitySet) {
        if self.words.len() < other.words.len() {
            self.words.resize(other.words.len(), 0);
        }
        for (w, o) in self.words.iter_mut().zip(&other.words) {
            *w |= o;
        }
    }

    /// How many entities.
    pub fn len(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|w| *w == 0)
    }

    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.words.iter().enumerate().flat_map(|(i, w)| {
            (0..64u32)
                .filter(move |b| w & (1u64 << b) != 0)
                .map(move |b| (i as u32).saturating_mul(64).saturating_add(b))
        })
    }

    /// The set as stored in a kept cell: a list of 4-byte numbers where that is shorter (a
    /// sector's cell of a few entities), else the bitmap's words; little-endian, after one
    /// byte saying which.
    pub fn encode(&self) -> Vec<u8> {
        let used = self
            .words
            .iter()
            .rposition(|w| *w != 0)
            .map_or(0, |i| i + 1);
        let n = self.len();
        if n.saturating_mul(4) < used.saturating_mul(8) {
            let mut out = Vec::with_capacity(1 + 4 * n);
            out.push(Self::LIST);
            for number in self.iter() {
                out.extend_from_slice(&number.to_le_bytes());
            }
            out
        } else {
            let mut out = Vec::with_capacity(1 + 8 * used);
            out.push(Self::BITMAP);
            for w in &self.words[..used] {
                out.extend_from_slice(&w.to_le_bytes());
            }
            out
        }
    }

    /// The set [`EntitySet::encode`] wrote; `None` for bytes it cannot have written.
    pub fn decode(bytes: &[u8]) -> Option<EntitySet> {
        let (kind, rest) = bytes.split_first()?;
        let mut set = EntitySet::default();
        match *kind {
            Self::LIST if rest.len() % 4 == 0 => {
                for c in rest.chunks_exact(4) {
                    set.insert(u32::from_le_bytes(c.try_into().ok()?));
                }
            }
            Self::BITMAP if rest.len() % 8 == 0 => {
                set.words = rest
                    .chunks_exact(8)
                    .map(|c| c.try_into().map(u64::from_le_bytes))
                    .collect::<Result<_, _>>()
                    .ok()?;
            }
            _ => return None,
        }
        Some(set)
    }
}

/// One cell of a grid unit's table: its figures and exactly which entities stand behind them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitCell {
    pub figures: Figures,
    pub entities: EntitySet,
}

impl UnitCell {
    pub fn add(&mut self, entities: &EntitySet, figures: &Figures) {
        self.figures.add(figures);
        self.entities.union_with(entities);
    }
}

/// Which cells of one unit's table to withhold: `true` at the index of each.
///
/// `threshold` is the least number of distinct entities a published cell, and any union of
/// withheld cells, must stand for; `0` or `1` withholds nothing (the national CSIRT's view).
pub fn protect(cells: &[UnitCell], threshold: u64) -> Vec<bool> {
    if threshold <= 1 {
        return vec![false; cells.len()];
    }
    let below = |n: usize| (n as u64) < threshold;
    let mut hidden: Vec<bool> = cells.iter().map(|c| below(c.entities.len())).collect();
    loop {
        let mut union = EntitySet::default();
        for (c, _) in cells.iter().zip(&hidden).filter(|(_, h)| **h) {
            union.union_with(&c.entities);
        }
        if union.is_empty() || !below(union.len()) {
            return hidden;
        }
        // The smallest published cell joins the withheld ones; ties go to the first.
        let partner = cells
            .iter()
            .enumerate()
            .filter(|(i, c)| !hidden[*i] && !c.entities.is_empty())
            .min_by_key(|(i, c)| (c.entities.len(), c.figures.notifications(), *i))
            .map(|(i, _)| i);
        match partner {
            Some(i) => hidden[i] = true,
            // Everything is withheld: the unit's whole total is below the threshold, and it
            // is withheld in every grouping alike.
            None => return hidden,
        }
    }
}

/// Whether a unit's total (every cell together) is published: it is one more cell, and the
/// same in every grouping.
pub fn total_published(cells: &[UnitCell], threshold: u64) -> bool {
    if threshold <= 1 {
        return true;
    }
    let mut entities = EntitySet::default();
    for c in cells {
        entities.union_with(&c.entities);
    }
    entities.len() as u64 >= threshold
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)] // fixed test values
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// The number of a named entity: `a`…`z`, or `e0`, `e1`, ….
    fn number(name: &str) -> u32 {
        match name.strip_prefix('e').and_then(|n| n.parse::<u32>().ok()) {
            Some(n) => 100 + n,
            None => u32::from(name.as_bytes()[0] - b'a'),
        }
    }

    fn set(names: &[&str]) -> EntitySet {
        let mut s = EntitySet::default();
        for n in names {
            s.insert(number(n));
        }
        s
    }

    /// A cell of `incidents` incidents from the named entities.
    fn cell(incidents: u64, entities: &[&str]) -> UnitCell {
        UnitCell {
            figures: Figures {
                incidents,
                significant: incidents / 2,
                ..Figures::default()
            },
            entities: set(entities),
        }
    }

    /// (case, cells as (incidents, entities), threshold) → withheld cells.
    #[test]
    fn the_suppression_table() {
        type Row = (
            &'static str,
            Vec<(u64, &'static [&'static str])>,
            u64,
            Vec<bool>,
        );
        #[rustfmt::skip]
        let table: Vec<Row> = vec![
            ("all cells large",              vec![(10, &["a", "b", "c"]), (8, &["d", "e", "f"])], 3, vec![false, false]),
            ("one small: the smallest other goes too",
                                             vec![(10, &["a", "b", "c", "d"]), (2, &["e"]), (6, &["f", "g", "h"])], 3, vec![false, true, true]),
            ("two small, together enough",   vec![(10, &["a", "b", "c"]), (2, &["d"]), (3, &["e", "f"])], 3, vec![false, true, true]),
            ("two small, one entity in both: not enough together",
                                             vec![(10, &["a", "b", "c"]), (2, &["d"]), (3, &["d", "e"]), (5, &["f", "g", "h", "i"])], 3, vec![true, true, true, false]),
            ("empty cells are withheld, and never help",
                                             vec![(0, &[]), (2, &["a", "b"]), (9, &["c", "d", "e", "f"])], 3, vec![true, true, true]),
            ("a single cell",                vec![(2, &["a"])], 3, vec![true]),
            ("an empty table",               vec![(0, &[]), (0, &[])], 3, vec![true, true]),
            ("the national view",            vec![(2, &["a"]), (9, &["b", "c", "d"])], 1, vec![false, false]),
            ("threshold of zero",            vec![(2, &["a"]), (0, &[])], 0, vec![false, false]),
            ("ties go to the first",         vec![(1, &["a"]), (5, &["b", "c", "d"]), (5, &["e", "f", "g"])], 3, vec![true, true, false]),
        ];
        for (case, cells, threshold, expected) in table {
            let cells: Vec<UnitCell> = cells.iter().map(|(i, e)| cell(*i, e)).collect();
            assert_eq!(protect(&cells, threshold), expected, "{case}");
        }
    }

    #[test]
    fn a_total_is_published_from_the_threshold_of_distinct_entities() {
        let two = [cell(4, &["a", "b"]), cell(3, &["a"])];
        assert!(!total_published(&two, 3), "two entities: below");
        let three = [cell(4, &["a", "b"]), cell(3, &["c"])];
        assert!(
            total_published(&three, 3),
            "three entities: at the threshold"
        );
        assert!(total_published(&two, 1), "the national view");
    }

    /// An attacker who knows a unit's totals (from another grouping) subtracts every published
    /// cell: what remains is the union of the withheld cells, and it always stands for at
    /// least `threshold` distinct entities, or for none.
    #[test]
    fn what_the_totals_leave_never_singles_out_fewer_than_the_threshold() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let names: Vec<String> = (0..12).map(|i| format!("e{i}")).collect();
        for _ in 0..5000 {
            let threshold = 2 + next(3);
            let cells: Vec<UnitCell> = (0..1 + next(8))
                .map(|_| {
                    let mut c = UnitCell::default();
                    for _ in 0..next(5) {
                        let e = &names[next(names.len() as u64) as usize];
                        c.add(
                            &set(&[e]),
                            &Figures {
                                incidents: 1,
                                ..Figures::default()
                            },
                        );
                    }
                    c
                })
                .collect();
            let hidden = protect(&cells, threshold);
            for (c, h) in cells.iter().zip(&hidden) {
                if (c.entities.len() as u64) < threshold {
                    assert!(*h, "a small cell is published: {cells:?}");
                }
            }
            let union: BTreeSet<u32> = cells
                .iter()
                .zip(&hidden)
                .filter(|(_, h)| **h)
                .flat_map(|(c, _)| c.entities.iter())
                .collect();
            let all: BTreeSet<u32> = cells.iter().flat_map(|c| c.entities.iter()).collect();
            assert!(
                union.is_empty() || union.len() as u64 >= threshold || union == all,
                "the remainder singles out {} entities: {cells:?} {hidden:?}",
                union.len()
            );
            if union == all && (all.len() as u64) < threshold {
                assert!(!total_published(&cells, threshold));
            }
        }
    }

    #[test]
    fn an_entity_set_is_stored_and_read_back_as_it_was() {
        for numbers in [
            vec![],
            vec![0],
            vec![3, 64, 65, 200],
            (0..300).collect::<Vec<u32>>(),
        ] {
            let mut s = EntitySet::default();
            for n in &numbers {
                s.insert(*n);
            }
            let bytes = s.encode();
            let back = EntitySet::decode(&bytes).expect("decodes");
            assert_eq!(back.iter().collect::<Vec<_>>(), numbers);
            assert_eq!(back.len(), numbers.len());
        }
        // Few numbers are kept as a list, many as a bitmap.
        assert_eq!(set(&["a", "e50"]).encode()[0], EntitySet::LIST);
        assert_eq!(EntitySet::decode(&[1, 0xff]), None, "a bitmap of 1 byte");
        assert_eq!(EntitySet::decode(&[]), None);
    }
}
