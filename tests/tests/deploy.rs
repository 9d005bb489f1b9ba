//! The container topology: `docker-compose.yml` is valid for Debian's `docker-compose`
//! (`config -q`) when the two Redis passwords are given, and refused without them.
//! (No Docker engine runs here, so the containers themselves are not started.)

use std::process::Output;

use e2e::workspace_root;

async fn compose_config(passwords: &[(&str, &str)]) -> Output {
    let mut cmd = tokio::process::Command::new("docker-compose");
    cmd.current_dir(workspace_root())
        .args(["config", "-q"])
        .env_remove("REDIS_ADMIN_PASSWORD")
        .env_remove("REDIS_SERVICE_PASSWORD");
    for (k, v) in passwords {
        cmd.env(k, v);
    }
    cmd.output()
        .await
        .expect("run docker-compose (./scripts/test.sh installs it)")
}

#[tokio::test]
async fn the_compose_file_is_valid_and_needs_both_redis_passwords() {
    let both = [
        ("REDIS_ADMIN_PASSWORD", "adminpw1"),
        ("REDIS_SERVICE_PASSWORD", "servicepw1"),
    ];
    let ok = compose_config(&both).await;
    assert!(
        ok.status.success(),
        "docker-compose config -q: {}",
        String::from_utf8_lossy(&ok.stderr)
    );
    for given in [&both[..1], &both[1..], &[]] {
        let refused = compose_config(given).await;
        assert!(!refused.status.success(), "accepted with only {given:?}");
        let why = String::from_utf8_lossy(&refused.stderr);
        assert!(why.contains("PASSWORD"), "{why}");
    }
}
