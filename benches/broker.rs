//! Criterion benches of the broker core: topic-tree fan-out and a whole
//! publish through the sans-IO core (frame parse, validate, encode, queue).

use criterion::{Criterion, criterion_group, criterion_main};
use distloop::broker::{Broker, BrokerConfig, ClientId, Frame, Serializer, TopicTree};

fn tree(c: &mut Criterion) {
    let mut tree = TopicTree::new();
    for i in 0..100 {
        tree.subscribe("/bench", ClientId(i), Serializer::Json)
            .unwrap();
    }
    tree.subscribe("/bench/deep/er", ClientId(1000), Serializer::Json)
        .unwrap();
    let mut targets = Vec::new();
    c.bench_function("tree_publish_fan_out_100", |b| {
        b.iter(|| {
            tree.publish(
                "/bench/deep/er",
                Serializer::Json,
                b"\"0123456789\"",
                &mut targets,
            )
            .unwrap();
            targets.len()
        })
    });
}

fn core_publish(c: &mut Criterion) {
    let mut broker = Broker::new(BrokerConfig::default());
    let publisher = broker.connect();
    let subscriber = broker.connect();
    broker.receive(
        subscriber,
        &Frame::Subscribe {
            serializer: Serializer::Json,
            topic: "/bench",
        }
        .to_bytes(),
    );
    let payload = format!("\"{}\"", "x".repeat(62));
    let frame = Frame::Publish {
        serializer: Serializer::Json,
        topic: "/bench",
        payload: payload.as_bytes(),
    }
    .to_bytes();
    c.bench_function("core_publish_64_byte_json_to_1", |b| {
        b.iter(|| {
            broker.receive(publisher, &frame);
            let outbox = broker.outbox_mut(subscriber).unwrap();
            let n = outbox.len();
            outbox.consume(n);
        })
    });
}

criterion_group!(benches, tree, core_publish);
criterion_main!(benches);
