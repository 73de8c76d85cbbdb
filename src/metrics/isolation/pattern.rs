//! IS-005's data: a pattern no other tenant can hold by chance, so any of it read
//! elsewhere is the victim's.

/// Word `index` of the pattern of `seed` (splitmix64): a fresh seed per run, so a word
/// of it turns up elsewhere by chance with probability 2^-64, and any match read by
/// another tenant is the victim's data.
pub fn pattern_word(seed: u64, index: u64) -> u64 {
    let mut z = seed.wrapping_add(index.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The first `words` words of the pattern of `seed`.
pub fn pattern(seed: u64, words: usize) -> Vec<u64> {
    (0..words as u64).map(|i| pattern_word(seed, i)).collect()
}

/// How many words of `data` equal the pattern of `seed` at their position.
pub fn matched_words(data: &[u64], seed: u64) -> u64 {
    data.iter()
        .zip(0..)
        .filter(|(&word, i)| word == pattern_word(seed, *i))
        .count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pattern_is_seeded_and_only_its_own_words_match() {
        let p = pattern(7, 1024);
        assert_eq!(p.len(), 1024);
        assert_ne!(p, pattern(8, 1024), "another seed, another pattern");
        assert_eq!(matched_words(&p, 7), 1024);
        assert_eq!(matched_words(&p, 8), 0);
        assert_eq!(matched_words(&vec![0; 1024], 7), 0);
        let mut half = p.clone();
        half[512..].fill(0);
        assert_eq!(matched_words(&half, 7), 512);
        let mut shifted = p;
        shifted.rotate_left(1);
        assert_eq!(
            matched_words(&shifted, 7),
            0,
            "words count at their position"
        );
    }
}
