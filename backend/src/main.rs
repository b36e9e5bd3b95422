fn main() {
    let n: usize = std::env::args().nth(1).unwrap().parse().unwrap();
    let t = std::time::Instant::now();
    let d = pi_backend::pi_digits(n);
    eprintln!("{} digits in {:?}, tail {}", n, t.elapsed(), &d[d.len().saturating_sub(20)..]);
}
