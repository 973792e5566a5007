# Connect, the first commands, reply shapes, and that `use Future::IO::Redis`
# turns on async/await (this file never loads Future::AsyncAwait itself).
use Test2::V0;
use IO::Async::Loop;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use lib 't/lib';
use FIORTest;

my $loop = IO::Async::Loop->new;
my $srv  = FIORTest::server('plain');
my $key  = FIORTest::unique_key('basic');

my @events;
my $redis = Future::IO::Redis->new( %$srv, on_connect => sub { push @events, 'connect' }, );

is( $redis->{_pid},            $$,           'pid recorded' );
is( $redis->{host},            $srv->{host}, 'options kept under their own names' );
is( $redis->{request_timeout}, 5,            'defaults filled in' );
ok( !$redis->is_connected, 'new does no I/O' );

async sub run_basics {
    my $self = await $redis->connect;
    is( $self, exact_ref($redis), 'connect yields the client' );
    ok( $redis->is_connected, 'connected' );
    is( \@events, ['connect'], 'on_connect fired once' );

    await $redis->connect;
    is( \@events, ['connect'], 'connect is idempotent' );

    is( await $redis->ping,                       'PONG',  'ping' );
    is( await $redis->set( $key, 'value' ),       'OK',    'set' );
    is( await $redis->get($key),                  'value', 'get' );
    is( await $redis->get("$key:missing"),        undef,   'missing key is undef' );
    is( await $redis->incr("$key:n"),             1,       'incr' );
    is( await $redis->del( $key, "$key:n" ),      2,       'del counts' );
    is( await $redis->command( 'ECHO', 'hi' ),    'hi',    'raw command' );
    is( await $redis->command( 'echo', 'lower' ), 'lower', 'command names are case-insensitive' );
    return 1;
}
ok( $loop->await( run_basics() )->get, 'basics ran' );

subtest 'futures are of the loop class and ->get runs the loop' => sub {
    my $f = $redis->ping;
    isa_ok( $f, 'IO::Async::Future' );
    is( $f->get, 'PONG', '->get drives the loop' );
};

subtest 'set option styles' => sub {
    my $k = "$key:set";
    is( $redis->set( $k, 'a', ex => 100, nx => 1 )->get, 'OK', 'hash style' );
    my $ttl = $redis->command( 'TTL', $k )->get;
    ok( $ttl > 0 && $ttl <= 100, "ex applied ($ttl)" );
    is( $redis->set( $k, 'b', nx => 1 )->get, undef, 'blocked NX write gives undef' );
    is( $redis->set( $k, 'c', 'XX', 'PX', 50000 )->get, 'OK', 'word style' );
    my $pttl = $redis->command( 'PTTL', $k )->get;
    ok( $pttl > 1000 && $pttl <= 50000, "px applied ($pttl)" );
    is( $redis->set( $k, 'd', nx  => 0 )->get, 'OK', 'a false flag is left out' );
    is( $redis->set( $k, 'e', get => 1 )->get, 'd',  'GET flag yields the old value' );
    $redis->del($k)->get;
};

subtest 'values are binary-safe; UTF-8 strings go as UTF-8 bytes' => sub {
    my $k      = "$key:bin";
    my $binary = join '', map { chr } 0 .. 255;
    $redis->set( $k, $binary )->get;
    is( $redis->get($k)->get, $binary, 'all 256 byte values round-trip' );

    my $text = "caf\x{e9} \x{263a}";
    $redis->set( $k, $text )->get;
    my $back = $redis->get($k)->get;
    is( $back, "caf\xc3\xa9 \xe2\x98\xba", 'sent as UTF-8, returned as bytes' );
    ok( !utf8::is_utf8($back), 'reply is a byte string' );
    is( $redis->command( 'STRLEN', $k )->get, 9, 'server saw 9 bytes' );

    $redis->set( $k, 3.5 )->get;
    is( $redis->get($k)->get, '3.5', 'numbers are sent as their string form' );
    $redis->del($k)->get;
};

subtest 'reply shapes' => sub {
    my $k = "$key:list";
    $redis->command( 'RPUSH', $k, 'a', 'b', 'c' )->get;
    is( $redis->command( 'LRANGE', $k,          0, -1 )->get, [qw(a b c)], 'array' );
    is( $redis->command( 'LRANGE', "$key:none", 0, -1 )->get, [],          'empty array' );
    like( $redis->command('TIME')->get, [ qr/^\d+$/, qr/^\d+$/ ], 'nested strings' );
    $redis->del($k)->get;
};

subtest 'an error inside a reply stays in its slot as an object' => sub {
    my $k = "$key:tx";
    $redis->command('MULTI')->get;
    is( $redis->command( 'SET', $k, 'text' )->get, 'QUEUED', 'queued' );
    $redis->command( 'INCR', $k )->get;
    my $exec = $redis->command('EXEC')->get;
    is( $exec->[0], 'OK', 'first slot is the SET reply' );
    my $err = $exec->[1];
    isa_ok( $err, 'Future::IO::Redis::Error::Redis' );
    is( $err->type, 'ERR', 'with the server code' );
    like( "$err", qr/not an integer/, 'and its message' );
    $redis->del($k)->get;
};

subtest 'RESP3: maps become hash references' => sub {
    my $r3 = Future::IO::Redis->new( %$srv, protocol => 3 );
    my $k  = "$key:hash";
    $r3->command( 'HSET', $k, f1 => 'v1', f2 => 'v2' )->get;
    is( $r3->command( 'HGETALL', $k )->get, { f1 => 'v1', f2 => 'v2' }, 'HGETALL is a map' );
    is( $r3->command( 'EXISTS',  $k )->get, 1,                          'integers still integers' );
    $r3->del($k)->get;
    $r3->disconnect;
};

subtest 'a command before connect connects implicitly' => sub {
    my $lazy = Future::IO::Redis->new(%$srv);
    is( $lazy->ping->get, 'PONG', 'first use connects' );
    ok( $lazy->is_connected, 'and is now connected' );
    $lazy->disconnect;
};

subtest 'inflight_count' => sub {
    is( $redis->inflight_count, 0, 'nothing in flight' );
    my @f = map { $redis->ping } 1 .. 5;
    is( $redis->inflight_count, 5, 'five sent, none answered yet' );
    Future->needs_all(@f)->get;
    is( $redis->inflight_count, 0, 'all answered' );
};

subtest 'disconnect' => sub {
    my @seen;
    my $r = Future::IO::Redis->new( %$srv, on_disconnect => sub { push @seen, $_[1] } );
    $r->connect->get;
    my $pending = $r->command( 'BLPOP', "$key:nothing", 2 );
    $r->disconnect;
    $r->disconnect;
    is( \@seen, ['client_disconnect'], 'on_disconnect fired once with its reason' );
    ok( !$r->is_connected,   'not connected' );
    ok( $pending->is_failed, 'a pending command failed at once' );
    isa_ok( $pending->failure, 'Future::IO::Redis::Error::Disconnected' );
    is( $pending->failure->reason, 'client_disconnect', 'with its reason' );
    my $after = $r->ping;
    $loop->await($after);
    isa_ok( $after->failure, 'Future::IO::Redis::Error::Disconnected' );
    is( $r->connect->get, exact_ref($r), 'connect again' );
    is( $r->ping->get,    'PONG',        'usable after reconnecting by hand' );
    $r->disconnect;
};

subtest 'disconnect survives a failure callback that runs the loop' => sub {

    # Regression: a nested loop run from a failure callback settled later
    # entries while disconnect() was failing them; disconnect died.
    my $r     = Future::IO::Redis->new(%$srv);
    my $other = Future::IO::Redis->new(%$srv);
    $loop->await( Future->needs_all( $r->connect, $other->connect ) )->get;
    my @f = map { $r->command( 'BLPOP', "$key:none:$_", 2 ) } 1 .. 5;
    my $nested;
    $_->on_fail( sub { $nested //= $other->ping->get } ) for @f;
    ok( lives { $r->disconnect }, 'disconnect returned' );
    is( $nested,                        'PONG', 'the callback ran its nested loop' );
    is( [ grep { !$_->is_failed } @f ], [],     'every pending command failed' );
    is( $r->inflight_count,             0,      'nothing counted in flight' );
    $other->disconnect;
};

$redis->disconnect;
done_testing;
