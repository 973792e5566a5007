# The few replies the client reshapes (hgetall → hash, info → sections,
# time → seconds/microseconds) look the same under RESP2 and RESP3; set takes
# options in both styles; everything else arrives as the server sends it
# (RESP3 maps as hashes, RESP2 as flat lists).
use Test2::V0;
use IO::Async::Loop;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use lib 't/lib';
use FIORTest;

my $loop = IO::Async::Loop->new;
my $srv  = FIORTest::server('plain');

for my $protocol ( 2, 3 ) {
    subtest "RESP$protocol" => sub {
        my $redis = Future::IO::Redis->new( %$srv, protocol => $protocol );
        my $key   = FIORTest::unique_key('shapes');

        $redis->hset( $key, a => 1, b => "two\x00", '' => 'empty field' )->get;
        is(
            $redis->hgetall($key)->get,
            { a => 1, b => "two\x00", '' => 'empty field' },
            'hgetall: a hash'
        );
        is( $redis->hgetall("$key:none")->get, {}, 'hgetall of a missing key: an empty hash' );
        $redis->del($key)->get;

        my $info = $redis->info->get;
        like( $info->{server}{redis_version}, qr/\A\d+\.\d+\.\d+\z/, 'info: server section' );
        ok( exists $info->{memory}{used_memory},        'info: memory section' );
        ok( exists $info->{clients}{connected_clients}, 'info: clients section' );
        my $memory = $redis->info('memory')->get;
        is( [ keys %$memory ], ['memory'], 'info(section): just that section' );
        $redis->set( $key, 1 )->get;
        like( $redis->info('keyspace')->get->{keyspace}{db0},
            qr/\Akeys=\d+,expires=\d+/, 'keyspace values as written' );

        my $time = $redis->time->get;
        is( [ sort keys %$time ], [qw(microseconds seconds)], 'time: seconds and microseconds' );
        ok( abs( $time->{seconds} - time ) < 3600,
            'time: the server clock (within an hour of ours)' );
        ok( $time->{microseconds} >= 0 && $time->{microseconds} < 1_000_000,
            'microseconds in range' );

        is( $redis->set( $key, 'v', nx => 1 )->get, undef, 'set nx on an existing key: undef' );
        is( $redis->set( $key, 'v', 'NX' )->get,    undef, 'and in word style' );
        is( $redis->set( $key, 'w', xx => 1, get => 1 )->get,  1, 'xx + get gives the old value' );
        is( $redis->set( $key, 'x', ex => 100, nx => 0 )->get, 'OK', 'a false flag is left out' );
        is( $redis->set( $key, 'x', nx => undef, get => undef, ex => 100 )->get,
            'OK', 'so is an undefined one' );
        ok( $redis->ttl($key)->get > 0, 'ex applied' );
        is( $redis->set( $key, 'y', 'PX', 100000, 'XX' )->get, 'OK', 'word style with a value' );
        ok( $redis->pttl($key)->get > 1000, 'px applied' );

        my $config = $redis->config_get('maxmemory')->get;
        is(
            $config,
            $protocol == 3 ? { maxmemory => E() } : [ 'maxmemory', E() ],
            'config_get as the server sends it'
        );
        $redis->zadd( $key . 'z', 1.5, 'a', 2, 'b' )->get;
        my $withscores = $redis->zrange( $key . 'z', 0, -1, 'WITHSCORES' )->get;
        is(
            $withscores,
            $protocol == 3 ? [ [ 'a', 1.5 ], [ 'b', 2 ] ] : [ 'a', '1.5', 'b', '2' ],
            'zrange withscores as the server sends it'
        );
        $redis->del( $key, $key . 'z' )->get;
    };
}

done_testing;
