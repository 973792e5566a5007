# Auto-pipelining (auto_pipeline => 1), under RESP2 and RESP3: commands
# issued in the same loop tick go out together, yet each keeps its own
# future, reply and error. 10,000 concurrent GETs of distinct keys each get
# their own value (with the default pipeline_depth and with 100); more
# commands than pipeline_depth in one tick all run, in issue order; a
# WRONGTYPE, an ERR and a bad argument in the middle fail only their own
# futures while the neighbours succeed; awaited sequential commands (two
# chains at once) work; order with a pipeline execute issued in the same
# tick is kept both ways; commands issued before connect wait for it; the
# prefix applies; disconnect with commands queued fails each of them with
# Error::Disconnected, and the client works again after connect.
use Test2::V0;
use Test2::API qw(context);
use IO::Async::Loop;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use lib 't/lib';
use FIORTest;

my $loop = IO::Async::Loop->new;
my $srv  = FIORTest::server('plain');

# Seeds and checks the keyspace: no auto-pipelining.
my $plain = Future::IO::Redis->new(%$srv);
$plain->connect->get;

# Waits (running the loop) at most $secs for $f; true when it is ready.
sub settled {
    my ( $f, $secs ) = @_;
    $loop->await( Future->wait_any( $f->without_cancel, $loop->delay_future( after => $secs ) ) );
    return $f->is_ready;
}

# Two assertions: every future succeeded, each with its own wanted reply
# (the first mismatches are shown as [ index, got, wanted ]).
sub futures_give {
    my ( $futures, $want, $name ) = @_;
    my $ctx = context();
    ok( settled( Future->wait_all(@$futures), 60 ), "$name: all " . @$futures . ' settled' );
    my @bad = grep {
        my $f = $futures->[$_];
        !$f->is_done || do {
            my $got = $f->get;
            defined $want->[$_] ? !defined $got || ref $got || $got ne $want->[$_] : defined $got;
        }
    } 0 .. $#$want;
    $#bad = 4 if @bad > 5;
    is(
        [
            map {
                my $f = $futures->[$_];
                [ $_, $f->is_done ? $f->get : $f->is_failed ? $f->failure : 'pending', $want->[$_] ]
            } @bad
        ],
        [],
        "$name: each got its own reply"
    );
    $ctx->release;
    return;
}

for my $protocol ( 2, 3 ) {
    subtest "RESP$protocol" => sub {
        my $base  = FIORTest::unique_key("auto$protocol");
        my $auto  = Future::IO::Redis->new( %$srv, protocol => $protocol, auto_pipeline => 1 );
        my $small = Future::IO::Redis->new(
            %$srv,
            protocol       => $protocol,
            auto_pipeline  => 1,
            pipeline_depth => 100
        );
        $loop->await( Future->needs_all( $auto->connect, $small->connect ) )->get;

        subtest '10,000 concurrent GETs of distinct keys' => sub {
            my $n     = 10_000;
            my @pairs = map { ( "$base:g:$_", "value-$_-" . ( $_ * 7919 % 10007 ) ) } 1 .. $n;
            $plain->mset( splice @pairs, 0, 2000 )->get while @pairs;
            for my $case ( [ $auto, 'default pipeline_depth' ], [ $small, 'pipeline_depth 100' ] ) {
                my ( $redis, $name ) = @$case;
                my @f = map { $redis->get("$base:g:$_") } 1 .. $n;
                futures_give( \@f, [ map { "value-$_-" . ( $_ * 7919 % 10007 ) } 1 .. $n ], $name );
            }

            # Missing keys among them: undef in their own slots.
            my @f = map { $small->get( $_ % 3 ? "$base:g:$_" : "$base:g:missing:$_" ) } 1 .. 300;
            futures_give(
                \@f,
                [ map { $_ % 3 ? "value-$_-" . ( $_ * 7919 % 10007 ) : undef } 1 .. 300 ],
                'missing keys give undef'
            );
            my @keys = map { "$base:g:$_" } 1 .. $n;
            $plain->unlink( splice @keys, 0, 5000 )->get while @keys;
        };

        subtest 'more commands than pipeline_depth in one tick run in order' => sub {

            # RPUSH answers the list's length: 1, 2, 3 ... only in issue order.
            my $list = "$base:order";
            my @f    = map { $small->rpush( $list, $_ ) } 1 .. 1000;
            futures_give( \@f, [ 1 .. 1000 ], '1,000 RPUSH with pipeline_depth 100' );
            is( $plain->lrange( $list, 0, -1 )->get, [ 1 .. 1000 ], 'the list is in issue order' );

            # Mixed: each GET reads what the SET just before it wrote.
            my ( @g, @want );
            for my $i ( 1 .. 1000 ) {
                my $kind = $i % 4;
                if ( $kind == 0 ) {
                    push @g,    $small->set( "$base:m:$i", "m$i" );
                    push @want, 'OK';
                }
                elsif ( $kind == 1 ) {
                    push @g,    $small->get( "$base:m:" . ( $i - 1 ) );
                    push @want, $i == 1 ? undef : 'm' . ( $i - 1 );
                }
                elsif ( $kind == 2 ) {
                    push @g,    $small->incrby( "$base:m:c", $i );
                    push @want, undef;                               # filled in below
                }
                else {
                    push @g,    $small->echo("echo-$i");
                    push @want, "echo-$i";
                }
            }
            my $sum = 0;
            for my $i ( 1 .. 1000 ) { $want[ $i - 1 ] = $sum += $i if $i % 4 == 2 }
            futures_give( \@g, \@want, '1,000 mixed commands' );
            $plain->del( $list, "$base:m:c", map { "$base:m:$_" } grep { $_ % 4 == 0 } 1 .. 1000 )
                ->get;
        };

        subtest 'an error goes to its own future; the neighbours succeed' => sub {
            my $s = "$base:err:s";
            my $c = "$base:err:c";
            my $u = "$base:err:u";
            $plain->set( $s, 'text' )->get;
            my @before = map { $small->incr($c) } 1 .. 250;
            my $wrong  = $small->lpush( $s, 'x' );
            my @middle = map { $small->incr($c) } 251 .. 500;
            my $notint = $small->incr($s);
            my $bad    = $small->set( $u, undef );
            my $text   = $small->get($s);
            my $last   = $small->incr($c);

            my $err = FIORTest::failure_of($wrong);
            isa_ok( $err, ['Future::IO::Redis::Error::Redis'], 'LPUSH on a string fails' );
            is( ref $err && $err->type, 'WRONGTYPE', '... with WRONGTYPE' );
            $err = FIORTest::failure_of($notint);
            isa_ok( $err, ['Future::IO::Redis::Error::Redis'], 'INCR on text fails' );
            is( ref $err   && $err->type, 'ERR', '... with ERR' );
            like( ref $err && $err->message, qr/not an integer/, '... its own message' );
            $err = FIORTest::failure_of($bad);
            isa_ok( $err, ['Future::IO::Redis::Error'], 'an undef argument fails' );
            ok( ref $err && !$err->isa('Future::IO::Redis::Error::Redis'),
                '... before reaching the server' );
            futures_give(
                [ @before,  @middle, $text, $last ],
                [ 1 .. 500, 'text',  501 ],
                'the neighbours'
            );
            is( $plain->exists($u)->get, 0,      'the bad SET was not sent' );
            is( $plain->get($s)->get,    'text', 'the failed commands changed nothing' );
            $plain->del( $s, $c )->get;
        };

        subtest 'awaited sequential commands' => sub {
            my $k     = "$base:seq";
            my $chain = async sub {
                my ($redis) = @_;
                my @log;
                push @log, await $redis->set( $k, 'a' );
                push @log, await $redis->get($k);
                push @log, await $redis->append( $k, 'b' );
                push @log, await $redis->get($k);
                for my $i ( 1 .. 20 ) {
                    push @log, await $redis->incr("$k:n");
                }
                push @log,
                    [ await Future->needs_all( map { $redis->incrby( "$k:m", $_ ) } 1 .. 10 ) ];
                push @log, await $redis->hgetall("$k:nohash");
                push @log, await $redis->del( $k, "$k:n", "$k:m" );
                return \@log;
            };
            is(
                $chain->($auto)->get,
                [ 'OK', 'a', 2, 'ab', 1 .. 20, [ 1, 3, 6, 10, 15, 21, 28, 36, 45, 55 ], {}, 3 ],
                'one chain: every reply as it should be'
            );

            # Two chains at once on one client, each on its own counter.
            my $counting = async sub {
                my ( $key, $step ) = @_;
                my @got;
                for my $i ( 1 .. 50 ) {
                    push @got, await $small->incrby( $key, $step );
                }
                return \@got;
            };
            my $one = $counting->( "$k:one", 1 );
            my $two = $counting->( "$k:two", 1000 );
            is( $one->get, [ 1 .. 50 ],                   'chain one got its own replies' );
            is( $two->get, [ map { $_ * 1000 } 1 .. 50 ], 'chain two got its own replies' );
            $plain->del( "$k:one", "$k:two" )->get;
        };

        subtest 'order with a pipeline execute issued in the same tick' => sub {
            my $k  = "$base:mix";
            my $f1 = $auto->set( $k, 'auto' );
            my $pf = $auto->pipeline->get($k)->set( $k, 'pipe' )->append( $k, '+p' )->execute;
            my $f2 = $auto->get($k);
            my $f3 = $auto->append( $k, '+a' );
            is( $f1->get, 'OK',                   'the SET before the pipeline' );
            is( $pf->get, [ 'auto', 'OK', 6 ],    'the pipeline saw it' );
            is( $f2->get, 'pipe+p',               'the GET after saw the pipeline\'s writes' );
            is( $f3->get, 8,                      'the APPEND after ran after it' );
            is( $plain->get($k)->get, 'pipe+p+a', 'final value' );

            # More than pipeline_depth before it, some after.
            my $list   = "$base:mix:list";
            my @before = map { $small->rpush( $list, "b$_" ) } 1 .. 150;
            my $p      = $small->pipeline->rpush( $list, 'pipe' )->llen($list)->execute;
            my @after  = map { $small->rpush( $list, "a$_" ) } 1 .. 10;
            futures_give( \@before, [ 1 .. 150 ], '150 before' );
            is( $p->get, [ 151, 151 ], 'the pipeline after all 150' );
            futures_give( \@after, [ 152 .. 161 ], '10 after' );
            is(
                $plain->lrange( $list, 0, -1 )->get,
                [ ( map { "b$_" } 1 .. 150 ), 'pipe', map { "a$_" } 1 .. 10 ],
                'the list in issue order'
            );
            $plain->del( $k, $list )->get;
        };

        subtest 'commands issued before connect wait for it' => sub {
            my $fresh = Future::IO::Redis->new(
                %$srv,
                protocol       => $protocol,
                auto_pipeline  => 1,
                pipeline_depth => 10
            );
            my @f = map { $fresh->echo("e$_") } 1 .. 100;
            futures_give( \@f, [ map { "e$_" } 1 .. 100 ], '100 ECHO before connect' );
            $fresh->disconnect;
        };

        subtest 'the prefix applies' => sub {
            my $prefix = FIORTest::unique_key('autopfx') . ':';
            my $pc     = Future::IO::Redis->new(
                %$srv,
                protocol       => $protocol,
                auto_pipeline  => 1,
                pipeline_depth => 10,
                prefix         => $prefix
            );
            $pc->connect->get;
            my @f = map { $pc->set( "k$_", "v$_" ) } 1 .. 50;
            futures_give( \@f, [ ('OK') x 50 ], '50 SET' );
            is(
                $plain->mget( map { "${prefix}k$_" } 1 .. 50 )->get,
                [ map { "v$_" } 1 .. 50 ],
                'stored under the prefix'
            );
            $plain->del( map { "${prefix}k$_" } 1 .. 50 )->get;
            $pc->disconnect;
        };

        subtest 'disconnect with commands queued fails them with Disconnected' => sub {
            my $c = Future::IO::Redis->new( %$srv, protocol => $protocol, auto_pipeline => 1 );
            $c->connect->get;
            my @f = map { $c->incr("$base:dc") } 1 .. 100;
            $c->disconnect;
            ok( settled( Future->wait_all(@f), 10 ), 'all 100 settled' );
            my @wrong = map { $_->is_failed ? ref $_->failure : $_->is_done ? 'done' : 'pending' }
                grep {
                       !$_->is_failed
                    || !ref $_->failure
                    || !$_->failure->isa('Future::IO::Redis::Error::Disconnected')
                } @f;
            is( \@wrong, [], 'each failed with Error::Disconnected' );
            isa_ok(
                FIORTest::failure_of( $c->get("$base:dc") ),
                ['Future::IO::Redis::Error::Disconnected'],
                'a command after disconnect too'
            );

            $c->connect->get;
            my @g = map { $c->echo("back$_") } 1 .. 100;
            futures_give( \@g, [ map { "back$_" } 1 .. 100 ], 'after connect' );
            $c->disconnect;
            $plain->del("$base:dc")->get;
        };

        is( $plain->command( 'KEYS', "$base:*" )->get, [], 'no keys left behind' );
        $_->disconnect for $auto, $small;
    };
}

$plain->disconnect;
done_testing;
