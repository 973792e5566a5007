# The manual transaction API, under RESP2 and RESP3: watch, unwatch,
# multi_start (and multi() without arguments), exec and discard, with the
# watching and in_multi flags following what the server confirmed - also
# when it refuses (WATCH inside MULTI leaves the flags as they were, a nested
# MULTI leaves the transaction open, EXEC or DISCARD without MULTI keep the
# WATCH, and a second client shows the server really kept it); commands
# inside MULTI answer QUEUED; exec gives the results (an error reply in its
# slot), or undef when another client wrote a watched key; EXEC, DISCARD and
# an EXECABORT clear both flags; after CLIENT KILL of the connection (with
# reconnect => 1) neither flag is set and the new connection is outside any
# transaction.
use Test2::V0;
use IO::Async::Loop;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use lib 't/lib';
use FIORTest;

alarm 180;    # a hang fails the file instead

my $loop = IO::Async::Loop->new;
my $srv  = FIORTest::server('plain');

# A second client: writes watched keys and looks at the server.
my $other = Future::IO::Redis->new(%$srv);
$other->connect->get;

# The flags as one comparable value.
sub flags_of {
    my ($redis) = @_;
    return { watching => $redis->watching ? 1 : 0, in_multi => $redis->in_multi ? 1 : 0 };
}

# Whether the server still watches $key for $redis: another client writes
# it, then a transaction on $redis aborts (undef) only if it does.
sub server_watches {
    my ( $redis, $key ) = @_;
    $other->set( $key, 'written by the other client' )->get;
    $redis->multi_start->get;
    $redis->ping->get;
    return defined $redis->exec->get ? 0 : 1;
}

for my $protocol ( 2, 3 ) {
    subtest "RESP$protocol" => sub {
        my $redis = Future::IO::Redis->new( %$srv, protocol => $protocol );
        $redis->connect->get;
        my $base = FIORTest::unique_key("manual$protocol");

        is( flags_of($redis), { watching => 0, in_multi => 0 }, 'a fresh client: neither flag' );

        subtest 'watch, unwatch' => sub {
            my ( $k1, $k2 ) = ( "$base:w:1", "$base:w:2" );
            is( $redis->watch( $k1, $k2 )->get, 'OK',                             'WATCH: OK' );
            is( flags_of($redis),               { watching => 1, in_multi => 0 }, '... watching' );
            is( $redis->unwatch->get,           'OK',                             'UNWATCH: OK' );
            is( flags_of($redis), { watching => 0, in_multi => 0 }, '... not watching' );
            is( server_watches( $redis, $k2 ), 0,                   'the server agrees' );
            $redis->watch($k1)->get;
            is( server_watches( $redis, $k1 ), 1,                   'and a WATCH is real' );
            is( flags_of($redis), { watching => 0, in_multi => 0 }, 'cleared by that EXEC' );
            $redis->del( $k1, $k2 )->get;
        };

        subtest 'multi_start, QUEUED, exec' => sub {
            my ( $k, $s ) = ( "$base:x:k", "$base:x:s" );
            $redis->set( $s, 'text' )->get;
            is( $redis->watch($k)->get,   'OK', 'WATCH' );
            is( $redis->multi_start->get, 'OK', 'MULTI: OK' );
            is( flags_of($redis), { watching => 1, in_multi => 1 },
                '... in MULTI, still watching' );
            is( $redis->set( $k, 5 )->get, 'QUEUED', 'SET: QUEUED' );
            is( $redis->incr($k)->get,     'QUEUED', 'INCR: QUEUED' );
            is( $redis->incr($s)->get,     'QUEUED', 'INCR of a string: QUEUED' );
            is( $redis->get($k)->get,      'QUEUED', 'GET: QUEUED' );
            is( $other->exists($k)->get,   0,        'nothing ran yet' );
            my $res = $redis->exec->get;
            is( ref $res,               'ARRAY',          'EXEC: an array' );
            is( scalar @$res,           4,                '... four slots' );
            is( [ @{$res}[ 0, 1, 3 ] ], [ 'OK', 6, '6' ], '... the replies in order' );
            isa_ok( $res->[2], ['Future::IO::Redis::Error::Redis'], '... an error in its slot' );
            is( flags_of($redis),     { watching => 0, in_multi => 0 }, 'EXEC clears both flags' );
            is( $redis->get($k)->get, '6', 'a command after EXEC: its real reply' );

            is( $redis->multi->get,   'OK', 'multi() without arguments: MULTI' );
            is( flags_of($redis),     { watching => 0, in_multi => 1 }, '... in MULTI' );
            is( $redis->get($k)->get, 'QUEUED',                         '... QUEUED' );
            is( $redis->exec->get,    ['6'],                            '... exec' );
            is( flags_of($redis),     { watching => 0, in_multi => 0 }, '... neither flag' );
            $redis->del( $k, $s )->get;
        };

        subtest 'discard' => sub {
            my $k = "$base:d";
            $redis->set( $k, 'kept' )->get;
            $redis->watch($k)->get;
            $redis->multi_start->get;
            is( $redis->set( $k, 'gone' )->get, 'QUEUED',           'SET: QUEUED' );
            is( $redis->discard->get,           'OK',               'DISCARD: OK' );
            is( flags_of($redis), { watching => 0, in_multi => 0 }, 'DISCARD clears both flags' );
            is( $redis->get($k)->get,         'kept', 'the queued SET never ran' );
            is( server_watches( $redis, $k ), 0,      'the server lifted the WATCH too' );
            $redis->del($k)->get;
        };

        subtest 'a conflicting write aborts exec: undef' => sub {
            my $k = "$base:c";
            $redis->set( $k, 'v1' )->get;
            $redis->watch($k)->get;
            $other->set( $k, 'theirs' )->get;
            $redis->multi_start->get;
            is( $redis->set( $k, 'mine' )->get, 'QUEUED', 'SET: QUEUED' );
            my $f = $redis->exec;
            is( [ $f->get ],          [undef], 'written before MULTI: EXEC gives undef' );
            is( flags_of($redis),     { watching => 0, in_multi => 0 }, '... neither flag' );
            is( $redis->get($k)->get, 'theirs', '... the transaction did not run' );

            $redis->watch($k)->get;
            $redis->multi_start->get;
            $redis->set( $k, 'mine' )->get;
            $other->set( $k, 'theirs again' )->get;
            is( $redis->exec->get,    undef, 'written inside MULTI: undef' );
            is( flags_of($redis),     { watching => 0, in_multi => 0 }, '... neither flag' );
            is( $redis->get($k)->get, 'theirs again', '... the transaction did not run' );
            $redis->del($k)->get;
        };

        subtest 'a queue-time error: EXECABORT' => sub {
            my $k = "$base:abort";
            $redis->set( $k, 'kept' )->get;
            $redis->watch($k)->get;
            $redis->multi_start->get;
            is( $redis->set( $k, 'changed' )->get, 'QUEUED', 'SET: QUEUED' );
            my $err = FIORTest::failure_of( $redis->command('INCR') );
            isa_ok( $err, ['Future::IO::Redis::Error::Redis'], 'INCR without a key' );
            like( ref $err ? $err->message : '', qr/wrong number of arguments/i, '... says why' );
            is( flags_of($redis), { watching => 1, in_multi => 1 }, '... still in MULTI' );
            $err = FIORTest::failure_of( $redis->exec );
            isa_ok( $err, ['Future::IO::Redis::Error::Redis'], 'EXEC fails' );
            is( ref $err ? $err->type : undef, 'EXECABORT',             '... EXECABORT' );
            is( flags_of($redis),     { watching => 0, in_multi => 0 }, '... neither flag' );
            is( $redis->get($k)->get, 'kept',                           'nothing ran' );
            is( server_watches( $redis, $k ), 0, 'the server lifted the WATCH' );
            $redis->del($k)->get;
        };

        subtest 'refusals leave the flags as the server has them' => sub {
            my ( $k1, $k2 ) = ( "$base:r:1", "$base:r:2" );

            $redis->multi_start->get;
            my $err = FIORTest::failure_of( $redis->watch($k1) );
            isa_ok( $err, ['Future::IO::Redis::Error::Redis'], 'WATCH inside MULTI fails' );
            like(
                ref $err ? $err->message : '',
                qr/WATCH inside MULTI/i,
                '... the server says why'
            );
            is(
                flags_of($redis),
                { watching => 0, in_multi => 1 },
                '... not watching, still in MULTI'
            );
            is( $redis->discard->get, 'OK',                             'DISCARD' );
            is( flags_of($redis),     { watching => 0, in_multi => 0 }, '... neither flag' );

            $redis->watch($k1)->get;
            $redis->multi_start->get;
            FIORTest::failure_of( $redis->watch($k2) );
            is(
                flags_of($redis),
                { watching => 1, in_multi => 1 },
                'a refused WATCH while watching: still watching the first key, in MULTI'
            );
            $redis->discard->get;

            $redis->multi_start->get;
            $err = FIORTest::failure_of( $redis->multi_start );
            isa_ok( $err, ['Future::IO::Redis::Error::Redis'], 'MULTI inside MULTI fails' );
            is( flags_of($redis),     { watching => 0, in_multi => 1 }, '... still in MULTI' );
            is( $redis->discard->get, 'OK',                             'DISCARD' );
            is( flags_of($redis),     { watching => 0, in_multi => 0 }, '... neither flag' );

            $redis->watch($k1)->get;
            $err = FIORTest::failure_of( $redis->exec );
            isa_ok( $err, ['Future::IO::Redis::Error::Redis'], 'EXEC without MULTI fails' );
            like( ref $err ? $err->message : '', qr/without MULTI/i, '... the server says why' );
            is( flags_of($redis), { watching => 1, in_multi => 0 }, '... the WATCH stays' );
            is( server_watches( $redis, $k1 ), 1,                   '... on the server too' );

            $redis->watch($k1)->get;
            $err = FIORTest::failure_of( $redis->discard );
            isa_ok( $err, ['Future::IO::Redis::Error::Redis'], 'DISCARD without MULTI fails' );
            is( flags_of($redis), { watching => 1, in_multi => 0 }, '... the WATCH stays' );
            is( server_watches( $redis, $k1 ), 1,                   '... on the server too' );
            is( flags_of($redis), { watching => 0, in_multi => 0 }, 'neither flag after the EXEC' );
            is( $redis->ping->get, 'PONG',                          'the client goes on' );
            $redis->del( $k1, $k2 )->get;
        };

        subtest 'a dropped connection clears both flags' => sub {
            my $k = "$base:drop";
            my $r = Future::IO::Redis->new(
                %$srv,
                protocol        => $protocol,
                reconnect       => 1,
                reconnect_delay => 0.3
            );
            $r->connect->get;

            for my $case ( 'in MULTI', 'watching only' ) {
                my $id = $r->client_id->get;
                $r->watch($k)->get;
                if ( $case eq 'in MULTI' ) {
                    $r->multi_start->get;
                    is( $r->set( $k, 'queued' )->get, 'QUEUED', "$case: QUEUED" );
                }
                is(
                    flags_of($r),
                    { watching => 1, in_multi => $case eq 'in MULTI' ? 1 : 0 },
                    "$case: the flags before"
                );
                is( $other->client_kill( 'ID', $id )->get, 1, "$case: CLIENT KILL ID $id" );
                for ( 1 .. 500 ) {
                    last unless $r->is_connected;
                    $loop->delay_future( after => 0.02 )->get;
                }
                ok( !$r->is_connected, "$case: the client saw the drop" );
                is( flags_of($r),  { watching => 0, in_multi => 0 }, "$case: neither flag" );
                is( $r->ping->get, 'PONG',                           "$case: reconnected" );
                isnt( $r->client_id->get, $id, "$case: a new connection" );
                is( flags_of($r), { watching => 0, in_multi => 0 }, "$case: still neither flag" );
                is( $r->set( $k, 'fresh' )->get, 'OK',    "$case: SET gives OK, not QUEUED" );
                is( $other->get($k)->get,        'fresh', "$case: ... and ran" );
                is( server_watches( $r, $k ),    0, "$case: the new connection watches nothing" );
            }
            $r->del($k)->get;
            $r->disconnect;
        };

        is( $redis->keys("$base:*")->get, [], 'no key of this test left behind' );
        $redis->disconnect;
    };
}

$other->disconnect;
done_testing;
