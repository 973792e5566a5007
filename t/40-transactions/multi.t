# Transactions through multi(async sub { ... }), under RESP2 and RESP3: EXEC
# results come back in order, one slot per queued command, with an error
# reply as an Error::Redis object in its own slot while the others succeed;
# a die in the callback sends nothing (the server's cmd= for the connection
# and a second client show it), fails the future with that very error and
# leaves the client usable; the transaction object refuses to nest (multi,
# watch_multi, multi_start, exec, discard, watch, unwatch die "already in a
# transaction"); a queue-time error aborts the whole transaction with
# EXECABORT naming the cause; the callback may await other commands before
# it queues; 50 concurrent transactions on one client each get their own
# results and a plain command never sees a half-done one; commands issued
# while a transaction waits for its callback get their real replies (not
# QUEUED) and are not part of it; prefix and sub-command methods work inside.
use Test2::V0;
use IO::Async::Loop;
use Future::AsyncAwait;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use Scalar::Util qw(refaddr);
use lib 't/lib';
use FIORTest;

alarm 180;    # a hang (a transaction that never settles) fails the file instead

my $loop = IO::Async::Loop->new;
my $srv  = FIORTest::server('plain');

# A second client: looks at what the first one really did on the server.
my $other = Future::IO::Redis->new(%$srv);
$other->connect->get;

# The last command the server ran for the connection with this id (the cmd=
# field of CLIENT LIST).
sub last_command_of {
    my ($id) = @_;
    my $line = $other->command( 'CLIENT', 'LIST', 'ID', $id )->get;
    return $line =~ /\bcmd=(\S+)/ ? $1 : "no cmd= in: $line";
}

for my $protocol ( 2, 3 ) {
    subtest "RESP$protocol" => sub {
        my $redis = Future::IO::Redis->new( %$srv, protocol => $protocol );
        $redis->connect->get;
        my $base = FIORTest::unique_key("multi$protocol");

        subtest 'EXEC results in order' => sub {
            my $k = "$base:order";
            $redis->set( $k, 10 )->get;
            my @returned;
            my $res = $redis->multi(
                async sub {
                    my $tx = shift;
                    push @returned, $tx->incr($k);
                    push @returned, $tx->incrby( $k, 5 );
                    push @returned, $tx->get($k);
                    $tx->set( "$k:s", 'val' )->get("$k:s")->del("$k:s");
                    push @returned, $tx;
                }
            )->get;
            is( $res, [ 11, 16, '16', 'OK', 'val', 1 ], 'INCR, INCRBY, GET, SET, GET, DEL' );
            is(
                [ map { refaddr $_ } @returned ],
                [ ( refaddr $returned[-1] ) x 4 ],
                'command methods return the transaction (they chain)'
            );
            is( $other->get($k)->get,                '16', 'it ran on the server' );
            is( $other->exists("$k:s")->get,         0,    '... all of it' );
            is( $redis->multi( async sub { } )->get, [],   'an empty transaction gives []' );
            $redis->del($k)->get;
        };

        subtest 'an error reply sits in its slot, the others succeed' => sub {
            my ( $s, $n ) = ( "$base:slot:s", "$base:slot:n" );
            $redis->set( $s, 'not a number' )->get;
            my $res = $redis->multi(
                async sub {
                    my $tx = shift;
                    $tx->set( $n, 1 );
                    $tx->incr($s);
                    $tx->incr($n);
                    $tx->lpush( $s, 'x' );
                    $tx->get($s);
                }
            )->get;
            is( ref $res,     'ARRAY', 'an array' );
            is( scalar @$res, 5,       'five slots' );
            is( $res->[0],    'OK',    'slot 0: SET' );
            isa_ok( $res->[1], ['Future::IO::Redis::Error::Redis'], 'slot 1: INCR of a string' );
            is( ref $res->[1]   ? $res->[1]->type    : undef, 'ERR', '... type ERR' );
            like( ref $res->[1] ? $res->[1]->message : '', qr/not an integer/, '... its message' );
            is( $res->[2], 2, 'slot 2: INCR after the error still ran' );
            isa_ok( $res->[3], ['Future::IO::Redis::Error::Redis'], 'slot 3: LPUSH on a string' );
            is( ref $res->[3] ? $res->[3]->type : undef, 'WRONGTYPE',    '... type WRONGTYPE' );
            is( $res->[4],                               'not a number', 'slot 4: GET' );
            is( $other->get($n)->get,                    '2',            'the good commands ran' );
            is( $redis->del( $s, $n )->get,              2,              'the client goes on' );
        };

        subtest 'a die in the callback: nothing is sent' => sub {
            my $k = "$base:die";
            $redis->set( $k, 'before' )->get;
            my $id = $redis->client_id->get;
            is( $redis->echo('last one')->get, 'last one', 'an ECHO first' );

            my $boom = bless { why => 'boom' }, 'FIORTest::Boom';
            my $f    = $redis->multi(
                async sub {
                    my $tx = shift;
                    $tx->set( $k, 'after' );
                    $tx->incr("$k:n");
                    die $boom;
                }
            );
            my $err = FIORTest::failure_of($f);
            ok( ref $err && refaddr $err == refaddr $boom, 'fails with the very object died with' )
                or diag( 'failure: ' . ( $err // 'none' ) );
            is( last_command_of($id),        'echo',   'the server saw nothing after the ECHO' );
            is( $other->get($k)->get,        'before', 'the queued SET never ran' );
            is( $other->exists("$k:n")->get, 0,        'nor the INCR' );
            is( $redis->get($k)->get,        'before', 'the client stays usable' );

            my $late = $redis->multi(
                async sub {
                    my $tx = shift;
                    $tx->set( $k, 'late' );
                    await $redis->ping;
                    die "late boom\n";
                }
            );
            is( FIORTest::failure_of($late), "late boom\n", 'a die after an await: that error' );
            is( last_command_of($id),        'ping',        '... only the awaited PING was sent' );
            is( $other->get($k)->get,        'before',      '... nothing of the transaction' );

            is(
                $redis->multi( async sub { $_[0]->set( $k, 'after' )->get($k) } )->get,
                [ 'OK', 'after' ],
                'a later transaction works'
            );
            $redis->del($k)->get;
        };

        subtest 'nesting is refused' => sub {
            my $k = "$base:nest";
            my %caught;
            my $res = $redis->multi(
                async sub {
                    my $tx = shift;
                    $tx->set( $k, 'outer' );
                    %caught = (
                        multi => dies {
                            $tx->multi( async sub { } )
                        },
                        'multi()'   => dies { $tx->multi },
                        watch_multi => dies {
                            $tx->watch_multi( [$k], async sub { } )
                        },
                        multi_start => dies { $tx->multi_start },
                        exec        => dies { $tx->exec },
                        discard     => dies { $tx->discard },
                        watch       => dies { $tx->watch($k) },
                        unwatch     => dies { $tx->unwatch },
                    );
                    $tx->get($k);
                }
            )->get;
            for my $method ( sort keys %caught ) {
                like( $caught{$method}, qr/already in a transaction/, "\$tx->$method dies" );
            }
            is( $res, [ 'OK', 'outer' ], 'the outer transaction is not disturbed' );

            my $f = $redis->multi(
                async sub {
                    my $tx = shift;
                    $tx->set( $k, 'inner' );
                    $tx->exec;
                }
            );
            like(
                FIORTest::failure_of($f),
                qr/already in a transaction/,
                'uncaught: multi fails with it'
            );
            is( $other->get($k)->get, 'outer', '... and sends nothing' );
            is( $redis->ping->get,    'PONG',  '... the client goes on' );
            $redis->del($k)->get;
        };

        subtest 'a queue-time error aborts the transaction: EXECABORT' => sub {
            my $k = "$base:abort";
            $redis->set( $k, 'kept' )->get;
            my $f = $redis->multi(
                async sub {
                    my $tx = shift;
                    $tx->set( $k, 'changed' );
                    $tx->command('INCR');
                    $tx->set( "$k:2", 'x' );
                }
            );
            my $err = FIORTest::redis_error_ok( $redis, $f, 'EXECABORT', 'INCR without a key' );
            like(
                ref $err ? $err->message : '',
                qr/wrong number of arguments/i,
                'the message includes the queue-time error'
            );
            is( $other->get($k)->get,        'kept', 'nothing of it ran' );
            is( $other->exists("$k:2")->get, 0,      '... not even the commands after it' );

            $f = $redis->multi(
                async sub {
                    my $tx = shift;
                    $tx->set( $k, 'changed' );
                    $tx->command('FIOR-NO-SUCH-COMMAND');
                }
            );
            $err = FIORTest::redis_error_ok( $redis, $f, 'EXECABORT', 'an unknown command' );
            like( ref $err ? $err->message : '', qr/unknown command/i, '... naming the cause' );
            is( $other->get($k)->get, 'kept', 'nothing of it ran' );
            is( $redis->multi( async sub { $_[0]->get($k) } )->get,
                ['kept'], 'the next transaction works' );
            $redis->del($k)->get;
        };

        subtest 'the callback may await other commands first' => sub {
            my ( $src, $dst ) = ( "$base:await:src", "$base:await:dst" );
            $redis->set( $src, 21 )->get;
            my $res = $redis->multi(
                async sub {
                    my $tx    = shift;
                    my $v     = await $redis->get($src);
                    my $again = await $other->get($src);
                    await $loop->delay_future( after => 0.01 );
                    $tx->set( $dst, $v + $again );
                    $tx->get($dst);
                }
            )->get;
            is( $res,                   [ 'OK', 42 ], 'queued what the awaited reads gave' );
            is( $other->get($dst)->get, '42',         'on the server' );
            $redis->del( $src, $dst )->get;
        };

        subtest '50 concurrent transactions on one client' => sub {
            my @keys = map { "$base:many:$_" } 1 .. 50;
            $redis->mset( map { ( $keys[ $_ - 1 ], $_ * 1000 ) } 1 .. 50 )->get;
            my ( @tx, @plain );
            for my $i ( 1 .. 50 ) {
                my $k = $keys[ $i - 1 ];
                push @tx, $redis->multi(
                    async sub {
                        my $tx = shift;

                        # Callbacks finish in another order than they began.
                        if ( $i % 3 == 1 ) {
                            await $loop->delay_future( after => 0.002 * ( 50 - $i ) );
                        }
                        elsif ( $i % 3 == 2 ) { await $redis->ping }
                        $tx->incr($k)->incr($k)->get($k);
                    }
                );
                push @plain, $redis->get($k);
            }
            ok( FIORTest::ready_within( Future->wait_all( @tx, @plain ), 20 ), 'all settled' );
            is(
                [ map { $_->is_done ? $_->get : 'failed: ' . $_->failure } @tx ],
                [ map { [ $_ * 1000 + 1, $_ * 1000 + 2, $_ * 1000 + 2 ] } 1 .. 50 ],
                'each got its own EXEC results'
            );
            is(
                [ map { $_->is_done ? $_->get : 'failed' } @plain ],
                [ map { in_set( $_ * 1000, $_ * 1000 + 2 ) } 1 .. 50 ],
                'plain GETs in between: a value from before or after a transaction, never QUEUED'
            );
            is( $other->mget(@keys)->get, [ map { $_ * 1000 + 2 } 1 .. 50 ], 'on the server' );
            $redis->del(@keys)->get;
        };

        subtest 'commands issued while a transaction waits for its callback' => sub {
            my ( $k, $n, $out ) = ( "$base:wait:k", "$base:wait:n", "$base:wait:out" );
            my $gate    = $loop->new_future;
            my $entered = 0;
            my $tx_f    = $redis->multi(
                async sub {
                    my $tx = shift;
                    $entered++;
                    $tx->set( $k, 'from tx' );
                    await $gate;
                    $tx->incr($n);
                    $tx->get($k);
                }
            );
            for ( 1 .. 500 ) {
                last if $entered || $tx_f->is_ready;
                $loop->delay_future( after => 0.01 )->get;
            }
            is( $entered, 1, 'the callback is waiting' );

            my $set  = $redis->set( $out, 'outside' );
            my $get  = $redis->get($k);
            my $incr = $redis->incr($n);
            ok( FIORTest::ready_within( Future->wait_all( $set, $get, $incr ) ),
                'they are answered while the transaction waits' );
            is( $set->is_done ? $set->get : 'not done', 'OK', 'SET: its real reply, not QUEUED' );
            is( $get->is_done ? $get->get : 'not done',
                undef, 'GET: the queued SET is not sent yet' );
            is( $incr->is_done ? $incr->get : 'not done', 1, 'INCR: its real reply' );
            is( $other->get($out)->get, 'outside',           'the outside SET ran right away' );
            ok( !$tx_f->is_ready, 'the transaction still waits for its callback' );

            $gate->done;
            my $after = $redis->get($out);
            ok( FIORTest::ready_within($tx_f), 'released' );
            is(
                $tx_f->is_done ? $tx_f->get : 'failed',
                [ 'OK', 2, 'from tx' ],
                'its results hold only its own commands'
            );
            is( $after->get,          'outside', 'a GET issued right after: its real reply' );
            is( $other->get($k)->get, 'from tx', 'on the server' );
            $redis->del( $k, $n, $out )->get;
        };

        subtest 'prefix applies inside transactions' => sub {
            my $p = Future::IO::Redis->new( %$srv, protocol => $protocol, prefix => "$base:pfx:" );
            my $res = $p->multi(
                async sub {
                    my $tx = shift;
                    $tx->set( 'a', 1 );
                    $tx->incr('a');
                    $tx->mget( 'a', 'b' );
                    $tx->rename( 'a', 'b' );
                    $tx->exists( 'a', 'b' );
                }
            )->get;
            is( $res, [ 'OK', 2, [ '2', undef ], 'OK', 1 ], 'the results' );
            is( $other->get("$base:pfx:b")->get, '2',  'the keys carry the prefix on the server' );
            is( $other->exists("$base:pfx:a")->get, 0, '... the renamed one is gone' );
            $p->disconnect;
            $redis->del("$base:pfx:b")->get;
        };

        subtest 'sub-command methods work inside' => sub {
            my $k = "$base:sub";
            $redis->set( $k, 12345 )->get;
            my $res = $redis->multi(
                async sub {
                    my $tx = shift;
                    $tx->config_get('maxmemory');
                    $tx->object_encoding($k);
                }
            )->get;
            is(
                $res->[0],
                $protocol == 3 ? { maxmemory => E() } : [ 'maxmemory', E() ],
                'CONFIG GET maxmemory'
            );
            is( $res->[0], $redis->config_get('maxmemory')->get, '... as outside a transaction' );
            is( $res->[1], 'int',                                'OBJECT ENCODING' );
            $redis->del($k)->get;
        };

        is( $redis->keys("$base:*")->get, [], 'no key of this test left behind' );
        $redis->disconnect;
    };
}

$other->disconnect;
done_testing;
