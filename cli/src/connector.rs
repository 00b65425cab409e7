//! What database inputs may use of this process's world: the environment (libpq's `PG*`
//! variables and those a config names), the home directory and login name, the temporary
//! directory for spooled rows, and real pauses between attempts.

use sis_extract::database::Connector;

/// The connector of this process.
pub fn from_process() -> Connector {
    Connector {
        env: std::env::vars().collect(),
        home: std::env::var_os("HOME").map(Into::into),
        login: std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .ok(),
        spool_dir: std::env::temp_dir(),
        sleep: std::thread::sleep,
    }
}
