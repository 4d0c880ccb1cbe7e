//! Statistical disclosure control for the awareness tables: no published figure may single
//! out an entity.
//!
//! A group (a sector, a week, …) whose count of distinct entities is below the threshold is
//! suppressed: all its figures are withheld. Because every grouping of the same period adds up
//! to the same totals — and another grouping, or the national figure, reveals them — a single
//! suppressed group could be recovered as *total − the published groups*. So whenever exactly
//! one group is suppressed, the smallest published group is suppressed with it (complementary
//! suppression): what can be recovered is then only the sum of two or more groups, never one.
//!
//! Pure: a table in, the set of groups to withhold out; tested as tables.

/// The figures of one group, before suppression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cell {
    pub incidents: u64,
    pub significant: u64,
    pub entities: u64,
    pub late: u64,
}

/// Which groups to withhold: `true` at the index of each suppressed group.
///
/// `threshold` is the least number of distinct entities a published group must have; `0` or
/// `1` suppresses nothing (the national CSIRT's view).
pub fn suppress(cells: &[Cell], threshold: u64) -> Vec<bool> {
    let mut hidden: Vec<bool> = cells
        .iter()
        .map(|c| c.entities > 0 && c.entities < threshold)
        .collect();
    let suppressed = hidden.iter().filter(|h| **h).count();
    if suppressed == 1 {
        // The smallest published group that is not empty joins it; an empty group reveals
        // nothing when withheld, and nothing is learnt from withholding it, so it cannot help.
        let partner = cells
            .iter()
            .enumerate()
            .filter(|(i, c)| !hidden[*i] && c.incidents > 0)
            .min_by_key(|(i, c)| (c.entities, c.incidents, *i))
            .map(|(i, _)| i);
        // With no partner the one group is the whole total, below the threshold everywhere
        // it could be published, so it is withheld in every grouping alike.
        if let Some(i) = partner {
            hidden[i] = true;
        }
    }
    hidden
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)] // fixed test values
mod tests {
    use super::*;

    fn cell(incidents: u64, entities: u64) -> Cell {
        Cell {
            incidents,
            significant: incidents / 2,
            entities,
            late: 0,
        }
    }

    /// (case, groups as (incidents, entities), threshold) → suppressed groups.
    #[test]
    fn the_suppression_table() {
        type Row = (&'static str, Vec<(u64, u64)>, u64, Vec<bool>);
        #[rustfmt::skip]
        let table: Vec<Row> = vec![
            ("all groups large",            vec![(10, 5), (8, 4), (6, 3)],  3, vec![false, false, false]),
            ("one small: its smallest neighbour goes too", vec![(10, 5), (2, 1), (6, 3)], 3, vec![false, true, true]),
            ("two small: enough alone",     vec![(10, 5), (2, 1), (3, 2)],  3, vec![false, true, true]),
            ("empty groups never help",     vec![(0, 0), (2, 2), (9, 4)],   3, vec![false, true, true]),
            ("a single group",              vec![(2, 1)],                   3, vec![true]),
            ("the national view",           vec![(2, 1), (9, 4)],           1, vec![false, false]),
            ("threshold of zero",           vec![(2, 1), (9, 4)],           0, vec![false, false]),
            ("ties go to the first",        vec![(1, 1), (5, 3), (5, 3)],   3, vec![true, true, false]),
        ];
        for (case, groups, threshold, expected) in table {
            let cells: Vec<Cell> = groups.iter().map(|(i, e)| cell(*i, *e)).collect();
            assert_eq!(suppress(&cells, threshold), expected, "{case}");
        }
    }

    /// An attacker who knows the period's totals (from another grouping, or from the national
    /// figure) subtracts every published group: with a single group suppressed that would
    /// give its exact figures, but what remains is always the sum of two or more groups.
    #[test]
    fn a_suppressed_group_cannot_be_recovered_from_the_totals() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for _ in 0..2000 {
            let groups = 1 + next(8) as usize;
            let cells: Vec<Cell> = (0..groups)
                .map(|_| {
                    let entities = next(6);
                    cell(entities * (1 + next(3)), entities)
                })
                .collect();
            let hidden = suppress(&cells, 3);
            let total: u64 = cells.iter().map(|c| c.incidents).sum();
            let published: u64 = cells
                .iter()
                .zip(&hidden)
                .filter(|(_, h)| !**h)
                .map(|(c, _)| c.incidents)
                .sum();
            let withheld: Vec<&Cell> = cells
                .iter()
                .zip(&hidden)
                .filter(|(_, h)| **h)
                .map(|(c, _)| c)
                .collect();
            // Every group below the threshold is withheld.
            for (c, h) in cells.iter().zip(&hidden) {
                if c.entities > 0 && c.entities < 3 {
                    assert!(*h, "{cells:?}");
                }
            }
            let recovered = total - published;
            match withheld.len() {
                0 => assert_eq!(recovered, 0),
                // Only when the one group is all there is: the total itself is that group.
                1 => assert_eq!(
                    groups - cells.iter().filter(|c| c.incidents == 0).count(),
                    1,
                    "{cells:?} {hidden:?}"
                ),
                // The difference is a sum of several withheld groups: none is singled out.
                _ => assert_eq!(recovered, withheld.iter().map(|c| c.incidents).sum::<u64>()),
            }
        }
    }
}
