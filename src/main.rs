fn main() -> std::process::ExitCode {
    jwtd::cli::main()
}
