//! Looks up `lo` over rtnetlink and exits with its index (1).
use futures_util::TryStreamExt;

fn main() {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
        std::process::exit(2);
    };
    let index = rt.block_on(async {
        let (conn, handle, _) = rtnetlink::new_connection().ok()?;
        tokio::spawn(conn);
        let mut links = handle.link().get().match_name(String::from("lo")).execute();
        links.try_next().await.ok()?.map(|l| l.header.index as i32)
    });
    std::process::exit(index.unwrap_or(2));
}
